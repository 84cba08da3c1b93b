from textkit import slugify


def test_basic_title():
    assert slugify("Hello, World!") == "hello-world"


def test_collapses_punctuation_and_spaces():
    assert slugify("  Release notes -- v2.0 (final)  ") == "release-notes-v2-0-final"


def test_custom_separator():
    assert slugify("Quarterly Report 2024", separator="_") == "quarterly_report_2024"


def test_max_length_does_not_end_with_separator():
    assert slugify("alpha beta gamma", max_length=11) == "alpha-beta"


def test_empty_and_symbols_only():
    assert slugify("") == ""
    assert slugify("!!!") == ""
