from textkit import truncate


def test_short_text_is_unchanged():
    assert truncate("short", 10) == "short"


def test_text_of_exact_width_is_unchanged():
    assert truncate("exactly ten", 11) == "exactly ten"
