"""Text helpers: slugs, truncation, sentence splitting and word statistics."""

from textkit.sentences import split_sentences
from textkit.slug import slugify
from textkit.truncate import truncate
from textkit.words import normalize_whitespace, word_counts

__all__ = ["normalize_whitespace", "slugify", "split_sentences", "truncate", "word_counts"]
