"""Quality measures that compare topic models from any library on equal terms.

In memory (:mod:`svi_lda.evaluation.measures`): document-completion perplexity, NPMI
and diversity of any topic-word matrix. Streamed over a corpus folder (optionally on Dask):
:func:`evaluate`, which gives an :class:`EvaluationReport`. All logs are natural (nats).
"""

from svi_lda.evaluation.coherence import TopWordCounts, count_top_words, top_word_ids
from svi_lda.evaluation.matching import TopicMatching, match_topics
from svi_lda.evaluation.measures import (
    completion_perplexity,
    fold_in,
    npmi_coherence,
    split_tokens,
    topic_diversity,
)
from svi_lda.evaluation.report import (
    EvaluationReport,
    TopicScores,
    coherence_counts,
    evaluate,
    score_topics,
)
from svi_lda.evaluation.split import held_out_documents

__all__ = [
    "EvaluationReport",
    "TopWordCounts",
    "TopicMatching",
    "TopicScores",
    "coherence_counts",
    "completion_perplexity",
    "count_top_words",
    "evaluate",
    "fold_in",
    "held_out_documents",
    "match_topics",
    "npmi_coherence",
    "score_topics",
    "split_tokens",
    "top_word_ids",
    "topic_diversity",
]
