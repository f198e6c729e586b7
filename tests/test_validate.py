"""``svi-lda validate`` and compare_with_gibbs on a synthetic corpus with known topics."""

from __future__ import annotations

import numpy as np

from svi_lda.corpus import from_csr
from svi_lda.evaluation import held_out_documents
from svi_lda.evaluation.mcmc import compare_with_gibbs
from svi_lda.synthetic import make_lda_corpus


def test_held_out_documents_is_a_stable_hash_split():
    ids = np.arange(20000)
    mask = held_out_documents(ids, 0.1, seed=3)
    assert 0.09 < mask.mean() < 0.11
    np.testing.assert_array_equal(held_out_documents(ids[::-1], 0.1, 3), mask[::-1])
    assert np.any(held_out_documents(ids, 0.1, seed=4) != mask)


def test_ours_and_the_sampler_agree_on_a_clear_corpus():
    corpus = make_lda_corpus(500, 150, 5, doc_length=80, alpha=0.1, eta=0.02, seed=11)
    result = compare_with_gibbs(corpus.X[:400], corpus.X[400:], 5, method="batch",
                                passes=30, gibbs_iterations=100, gibbs_samples=10)
    assert len(result.matching.pairs) == 5
    assert result.matching.mean_distance < 0.2, result.matching.pairs
    assert result.matching.split_in_a == [] and result.matching.split_in_b == []
    # Both fit the same model well: held-out log predictive within 2% of each other.
    ours, gibbs = result.ours.log_predictive_per_token, result.gibbs.log_predictive_per_token
    assert abs(ours - gibbs) < 0.02 * abs(gibbs)
    text = result.format()
    assert "sampler" in text and "distance" in text


def test_validate_command_prints_every_part(tmp_path, capsys):
    # The report's content is checked above and in test_matching; here the command.
    from pipelines.cli import main

    corpus = make_lda_corpus(300, 120, 4, doc_length=60, alpha=0.1, eta=0.02, seed=2)
    from_csr(corpus.X, [f"w{i}" for i in range(120)], tmp_path / "c", row_group_size=64)
    code = main(["validate", str(tmp_path / "c"), "--topics", "4", "--iterations", "60",
                 "--samples", "5", "--passes", "10", "--method", "batch"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "held-out log predictive" in out and "matched topics" in out
    assert out.count("sampler ") >= 4 and "splits and merges" in out
    assert main(["validate", str(tmp_path / "none"), "--topics", "3"]) == 2
