from textkit import split_sentences


def test_simple_sentences():
    assert split_sentences("One. Two! Three?") == ["One.", "Two!", "Three?"]


def test_decimal_numbers_do_not_split():
    assert split_sentences("Pi is about 3.14 today. Yes.") == ["Pi is about 3.14 today.", "Yes."]


def test_whitespace_and_newlines():
    assert split_sentences("  First line.\n\nSecond line.  ") == ["First line.", "Second line."]


def test_empty_text():
    assert split_sentences("   ") == []
