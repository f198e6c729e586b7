"""Screening the anchor-word start of SCVB0 at 1,000,000 documents (issue 15, round 4).

    python benchmarks/screen_anchors.py q DOCS WORDS [--old]
    python benchmarks/screen_anchors.py qrect DOCS COLUMNS_ROWS
    python benchmarks/screen_anchors.py starts DOCS WORDS VARIANT [VARIANT ...]
    python benchmarks/screen_anchors.py pass DOCS WORDS VARIANT [VARIANT ...]
    python benchmarks/screen_anchors.py population DOCS     # needs the q cache of 3000
    python benchmarks/screen_anchors.py profile DOCS        # the library's start, profiled
    python benchmarks/screen_anchors.py ranges SAMPLE_DOCS ROWS  # kernel time by ranges

``q``: times the pieces of the start on the corpus of ``make_lda_corpus.py`` (the whole
corpus as the sample, the WORDS words of highest document frequency): the column slice,
the co-occurrence kernel (``--old``: also the round-3 kernel of ``/work/main``, checked
equal), and caches ``Q`` in ``/tmp/anchors2`` so the variants below do not recompute it.

``qrect``: the same with rows for the ROWS words of highest document frequency over
columns for the first COLUMNS of them (WORDS below is then ``COLUMNS_ROWS``).

``starts``: for each start VARIANT, the anchors and the recovery from the cached ``Q``:
their times, the distance of the start's topics (all words) to the Hungarian-matched true
topics (mean and 10/50/90% quantiles), and the number of distinct true topics the anchors
point to. ``pass``: one SCVB0 pass from each VARIANT's start (perplexity, NPMI, distance).

A VARIANT is ``;``-free text of ``key=value`` fields joined by ``,``:
``find=random|svd`` (random projection as round 3, or rank-``dim`` SVD denoising),
``dim=N``, ``mindf=N`` (candidates' document-frequency floor), ``recover=l2|kl|l2kl``,
``it=N`` (recovery iterations), ``norm=rows|marginal`` (``Qbar`` rows normalised by
their sums over the columns, as round 3, or by the words' marginals), ``w=W`` (start
weight), ``tau=T``, ``kappa=K`` (the pass's schedule), ``burn=B``, ``start=truth`` (the
true topics as the start: what the pass keeps of a perfect start).
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_lda_corpus import K, load  # noqa: E402
from tune_scvb0 import matched_tv  # noqa: E402

CACHE = Path("/tmp/anchors2")


def load_avg() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def cache_path(n_docs: int, n_words: str | int) -> Path:
    return CACHE / f"q_{n_docs}_{n_words}.npz"


def prepare_rectangular(n_docs: int, n_columns: int, n_rows: int) -> None:
    """Rows for the ``n_rows`` words of highest document frequency, columns for the first
    ``n_columns`` of them; cached with the rows' word ids and marginals."""
    from svi_lda.numerics.anchors import word_cooccurrence, word_marginals

    X, _, _ = load(n_docs)
    t0 = time.perf_counter()
    doc_freq = np.bincount(X.indices, minlength=X.shape[1])
    ranked = np.argsort(-doc_freq, kind="stable")
    rows = np.concatenate((np.sort(ranked[:n_columns]), np.sort(ranked[n_columns:n_rows])))
    Xr = X[:, rows]
    t1 = time.perf_counter()
    word_cooccurrence(Xr[:1000], 2, n_columns)  # compile
    t2 = time.perf_counter()
    Q = word_cooccurrence(Xr, 2, n_columns)
    t3 = time.perf_counter()
    marginal = word_marginals(Xr)
    print(f"slice {t1 - t0:.1f}s ({Xr.nnz:,} non-zeros), Q {n_rows} x {n_columns} "
          f"{t3 - t2:.1f}s, marginals {time.perf_counter() - t3:.1f}s, load {load_avg()}",
          flush=True)
    np.savez(cache_path(n_docs, f"{n_columns}_{n_rows}"), Q=Q, frequent=rows,
             doc_freq=doc_freq[rows], word_tokens=np.asarray(X.sum(axis=0)).ravel(),
             marginal=marginal, n_columns=n_columns)


def prepare(n_docs: int, n_words: int, old: bool) -> None:
    from svi_lda.numerics.anchors import word_cooccurrence

    X, _, _ = load(n_docs)
    t0 = time.perf_counter()
    doc_freq = np.bincount(X.indices, minlength=X.shape[1])
    frequent = np.sort(np.argsort(-doc_freq, kind="stable")[:n_words])
    t1 = time.perf_counter()
    Xf = X[:, frequent]
    t2 = time.perf_counter()
    print(f"doc freq {t1 - t0:.1f}s, column slice {t2 - t1:.1f}s ({Xf.nnz:,} non-zeros), "
          f"load {load_avg()}", flush=True)
    word_cooccurrence(Xf[:1000], 2)  # compile
    t0 = time.perf_counter()
    Q = word_cooccurrence(Xf, 2)
    print(f"Q (new kernel, 2 threads) {time.perf_counter() - t0:.1f}s load {load_avg()}",
          flush=True)
    if old:
        spec = importlib.util.spec_from_file_location(
            "old_anchors", "/work/main/svi_lda/numerics/anchors.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.word_cooccurrence(Xf[:1000], 2)
        t0 = time.perf_counter()
        Q_old = module.word_cooccurrence(Xf, 2)
        print(f"Q (round-3 kernel, 2 threads) {time.perf_counter() - t0:.1f}s load "
              f"{load_avg()}; max relative difference "
              f"{np.abs(Q - Q_old).max() / np.abs(Q_old).max():.2e}", flush=True)
    word_tokens = np.asarray(X.sum(axis=0)).ravel()
    CACHE.mkdir(exist_ok=True)
    np.savez(cache_path(n_docs, n_words), Q=Q, frequent=frequent,
             doc_freq=doc_freq[frequent], word_tokens=word_tokens)


def parse(variant: str) -> dict:
    options = dict(find="random", dim=1000, mindf=50, recover="l2", it=200, w=1.0, norm="rows",
                   start="anchors",
                   tau=None, kappa=None, burn=None)
    for field in filter(None, variant.split(",")):
        key, value = field.split("=")
        if key not in options:
            raise SystemExit(f"unknown field {key!r}")
        options[key] = value if key in ("find", "recover", "norm", "start") else float(value)
    return options


def start_topics(cached, options: dict, seed: int = 0):
    """(topics over all words (K, V), topic_share, anchors, seconds, counts) of a variant."""
    from svi_lda.numerics import anchors as an

    Q, frequent, doc_freq = cached["Q"], cached["frequent"], cached["doc_freq"]
    word_tokens = cached["word_tokens"]
    n_columns = int(cached.get("n_columns", Q.shape[1]))
    t0 = time.perf_counter()
    if options["norm"] == "marginal" or "marginal" in cached and n_columns < Q.shape[0]:
        if "marginal" not in cached:
            raise SystemExit("norm=marginal needs a cache written by qrect")
        p_word = cached["marginal"]
    else:
        p_word = Q.sum(axis=1)
    qbar = Q / np.maximum(p_word, 1e-300)[:, None]
    candidates = np.flatnonzero((doc_freq >= options["mindf"]) & (p_word > 0))
    if options["find"] == "random":
        anchors = an.find_anchors(qbar, candidates, K, seed=seed,
                                  projection_dim=int(options["dim"]))
    else:
        anchors = an.find_anchors_denoised(qbar, Q[:n_columns], candidates, K, seed=seed,
                                           rank=int(options["dim"]))
    t1 = time.perf_counter()
    if options["recover"] == "l2":
        C = an.recover_l2(qbar, anchors, iterations=int(options["it"]))
    elif options["recover"] == "kl":
        C = an.recover_kl(qbar, anchors, iterations=int(options["it"]))
    else:  # l2kl: RecoverL2 (200 iterations), then KL from there
        C = an.recover_kl(qbar, anchors, iterations=int(options["it"]),
                          start=an.recover_l2(qbar, anchors, iterations=200))
    t2 = time.perf_counter()
    joint = C * p_word[:, None]
    share = joint.sum(axis=0)
    topics_f = (joint / share).T
    share = share / share.sum()
    p_all = word_tokens / word_tokens.sum()
    counts = np.outer(p_all, share)
    counts[frequent] = p_all[frequent].sum() * (share[:, None] * topics_f).T
    topics = (counts / counts.sum(axis=0)).T
    return topics, share, anchors, (t1 - t0, t2 - t1), counts


def starts(n_docs: int, n_words: int, variants: list[str]) -> None:
    _, _, true = load(n_docs)
    cached = dict(np.load(cache_path(n_docs, n_words)))
    A = true["topics"][:, cached["frequent"]].T
    purity = A * true["alpha"][None]
    purity /= purity.sum(axis=1, keepdims=True)
    for variant in variants:
        topics, _, anchors, (t_find, t_rec), _ = start_topics(cached, parse(variant))
        tv = matched_tv(topics, true["topics"])
        sub = topics[:, cached["frequent"]]
        tv_rows = matched_tv(sub / sub.sum(axis=1, keepdims=True),
                             A.T / A.T.sum(axis=1, keepdims=True))
        print(f"{variant or 'round3'}: find {t_find:.1f}s recover {t_rec:.1f}s start tv "
              f"{tv.mean():.3f} q(10 50 90) {np.quantile(tv, [.1, .5, .9]).round(2)} "
              f"tv(rows) {tv_rows.mean():.3f} q {np.quantile(tv_rows, [.1, .5, .9]).round(2)} "
              f"distinct {len(set(purity[anchors].argmax(axis=1)))} load {load_avg()}",
              flush=True)


def one_pass(n_docs: int, n_words: int, variants: list[str]) -> None:
    import svi_lda.methods.scvb0 as scvb0
    from svi_lda import OnlineLDA
    from svi_lda.evaluation import completion_perplexity, npmi_coherence

    X, held, true = load(n_docs)
    cached = dict(np.load(cache_path(n_docs, n_words)))
    total_tokens = float(cached["word_tokens"].sum()) * X.shape[0] / n_docs
    defaults = scvb0.CollapsedSettings.__init__.__defaults__
    for variant in variants:
        options = parse(variant)
        if options["start"] == "truth":  # the upper bound: the true topics as the start
            seconds = (0.0,)
            share = true["alpha"] / true["alpha"].sum()
            counts = (share[:, None] * true["topics"]).T
        else:
            _, _, _, seconds, counts = start_topics(cached, options)
        params = dict(learning_method="scvb0", max_iter=1, random_state=0, n_jobs=2)
        if options["tau"] is not None:
            params["learning_offset"] = options["tau"]
        if options["kappa"] is not None:
            params["learning_decay"] = options["kappa"]
        burn = defaults[0] if options["burn"] is None else int(options["burn"])
        scvb0.CollapsedSettings.__init__.__defaults__ = (burn, *defaults[1:])
        model = OnlineLDA(K, **params)
        original = model._init_state

        def init(n_features: int, original=original, model=model, options=options,
                 counts=counts, **kw) -> None:
            original(n_features, **kw)
            state = model.state_
            state.word_topic[...] = (options["w"] * total_tokens * counts).astype(
                state.word_topic.dtype)
            state.scale = 1.0
            state.topic_sums = state.word_topic.sum(axis=0, dtype=np.float64)

        model._init_state = init
        t0 = time.perf_counter()
        model.fit(X)
        wall = time.perf_counter() - t0
        tv = matched_tv(model.get_topics(), true["topics"])
        print(f"{variant or 'round3'}: pass {wall:.1f}s (start {sum(seconds):.1f}s from "
              f"cached Q) ppl {completion_perplexity(model, held):.0f} "
              f"npmi {npmi_coherence(model, held):.3f} tv {tv.mean():.3f} q(10 25 50 75 90) "
              f"{np.quantile(tv, [.1, .25, .5, .75, .9]).round(2)} load {load_avg()}",
              flush=True)
    scvb0.CollapsedSettings.__init__.__defaults__ = defaults


def population(n_docs: int) -> None:
    """Which true topics have a word of high purity (largest true p(z | w)) among the M
    most frequent words, and which the round-3 anchors of the cached 3,000-word Q miss."""
    from collections import Counter

    from svi_lda.numerics.anchors import find_anchors

    X, _, true = load(n_docs)
    alpha = true["alpha"]
    moments = (np.outer(alpha, alpha) + np.diag(alpha)) / (alpha.sum() * (alpha.sum() + 1))
    doc_freq = np.bincount(X.indices, minlength=X.shape[1])
    for n_words in (3000, 4000, 5000):
        frequent = np.sort(np.argsort(-doc_freq, kind="stable")[:n_words])
        A = true["topics"][:, frequent].T
        Q = A @ moments @ A.T
        Q /= Q.sum()
        qbar = Q / Q.sum(axis=1)[:, None]
        purity = A * np.diag(moments)[None]
        purity /= purity.sum(axis=1, keepdims=True)
        found = find_anchors(qbar, np.arange(n_words), K, seed=0)
        best = purity.max(axis=0)
        print(f"{n_words} pop distinct {len(set(purity[found].argmax(axis=1)))} topics with "
              f"a word of purity>0.5/0.8/0.9: {(best > .5).sum()} {(best > .8).sum()} "
              f"{(best > .9).sum()}", flush=True)
        if n_words == 3000:
            sampled = np.load(cache_path(n_docs, 3000))["Q"]
            found = find_anchors(sampled / sampled.sum(axis=1)[:, None], np.arange(3000), K,
                                 seed=0)
            topics = purity[found].argmax(axis=1)
            missing = sorted(set(range(K)) - set(topics))
            print(f" sample anchors purity q "
                  f"{np.quantile(purity[found].max(axis=1), [.1, .25, .5]).round(2)} "
                  f"distinct {len(set(topics))}")
            print(f" missing topics {missing} their best purity {best[missing].round(2)} "
                  f"alpha {alpha[missing].round(3)} alpha median {np.median(alpha):.3f}")
            print(" duplicate topics",
                  [(int(k), v) for k, v in Counter(topics).items() if v > 1], flush=True)


def profile_start(n_docs: int) -> None:
    """cProfile of ``init="anchors"``'s start alone, through ``fit`` (2 threads)."""
    import cProfile
    import pstats

    from svi_lda import OnlineLDA
    from svi_lda.training import fit as fit_module

    X, _, _ = load(n_docs)
    original = fit_module._start_from_anchors

    class Started(Exception):
        pass

    def timed(*args, **kwargs):
        t0, profiler = time.perf_counter(), cProfile.Profile()
        profiler.enable()
        original(*args, **kwargs)
        profiler.disable()
        print(f"start {time.perf_counter() - t0:.1f}s load {load_avg()}", flush=True)
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(20)
        raise Started

    fit_module._start_from_anchors = timed
    try:
        OnlineLDA(K, learning_method="scvb0", init="anchors", max_iter=1, n_jobs=2,
                  random_state=0).fit(X)
    except Started:
        pass
    finally:
        fit_module._start_from_anchors = original


def time_ranges(n_docs: int, n_rows: int) -> None:
    """The co-occurrence kernel (rows ``n_rows`` over 3,000 columns) for several numbers
    of row ranges, on the first ``n_docs`` documents of the 1M corpus."""
    import svi_lda.numerics.anchors as anchors

    X, _, _ = load(1_000_000)
    X = X[:n_docs]
    doc_freq = np.bincount(X.indices, minlength=X.shape[1])
    ranked = np.argsort(-doc_freq, kind="stable")
    Xr = X[:, np.concatenate((np.sort(ranked[:3000]), np.sort(ranked[3000:n_rows])))]
    anchors.word_cooccurrence(Xr[:100], 2, 3000)
    original = anchors.split_by_weight
    try:
        for parts in (4, 16, 32, 64, 4):
            anchors.split_by_weight = lambda cumsum, _, parts=parts: original(cumsum, parts)
            t0 = time.perf_counter()
            anchors.word_cooccurrence(Xr, 2, 3000)
            print(f"{parts} ranges {time.perf_counter() - t0:.1f}s load {load_avg()}",
                  flush=True)
    finally:
        anchors.split_by_weight = original


def main() -> None:
    print("command: python " + " ".join(sys.argv))
    print("load", load_avg(), flush=True)
    if sys.argv[1] in ("population", "profile"):
        (population if sys.argv[1] == "population" else profile_start)(int(sys.argv[2]))
        return
    mode, n_docs, n_words = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    if mode == "ranges":
        time_ranges(n_docs, int(n_words))
    elif mode == "qrect":
        prepare_rectangular(n_docs, *map(int, n_words.split("_")))
    elif mode == "q":
        n_words = int(n_words)
        prepare(n_docs, n_words, "--old" in sys.argv)
    elif mode == "starts":
        starts(n_docs, n_words, sys.argv[4:])
    elif mode == "pass":
        one_pass(n_docs, n_words, sys.argv[4:])
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main()
