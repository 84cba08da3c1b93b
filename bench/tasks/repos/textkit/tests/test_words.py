from textkit import normalize_whitespace, word_counts


def test_normalize_whitespace():
    assert normalize_whitespace("  a \t b\n\nc ") == "a b c"


def test_word_counts_case_insensitive():
    counts = word_counts("The cat and the hat. THE END")
    assert counts["the"] == 3
    assert counts["cat"] == 1


def test_word_counts_keeps_apostrophes():
    assert word_counts("Don't stop, don't!")["don't"] == 2


def test_word_counts_stopwords():
    counts = word_counts("the cat and the hat", stopwords=["The", "and"])
    assert set(counts) == {"cat", "hat"}
