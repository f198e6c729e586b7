"""Text to words to ids: the tokenizer, the vocabulary, word counting."""

from svi_lda.text.counts import WordCounts, select_words
from svi_lda.text.stopwords import ENGLISH_STOP_WORDS
from svi_lda.text.tokenizer import DEFAULT_TOKEN_PATTERN, Tokenizer, Tokens
from svi_lda.text.vocabulary import Vocabulary, vocabulary_sha256

__all__ = [
    "DEFAULT_TOKEN_PATTERN",
    "ENGLISH_STOP_WORDS",
    "Tokenizer",
    "Tokens",
    "Vocabulary",
    "WordCounts",
    "select_words",
    "vocabulary_sha256",
]
