"""Evaluation against gensim: coherence (UMass, NPMI) and held-out figures, time and memory.

    python benchmarks/bench_evaluate.py [--docs 200000] [--gensim-docs 40000] [--topics 50]
                                        [--repeats 3] [--skip-20ng] [--skip-generated]

Part 1, 20 Newsgroups (``_common.load_20ng``): a K=20 model fitted on the training set is
evaluated on the test set by ``svi_lda.evaluation.evaluate`` (one streamed pass: held-out
log predictive, ELBO, NPMI, UMass, sizes) and by gensim on the same topics and documents:
``CoherenceModel`` ``u_mass`` (bag-of-words corpus) and ``c_npmi`` (texts, with
``window_size`` longer than every document, so a window is a whole document, as ours), and
``LdaModel.log_perplexity`` with our lambda, alpha and eta put into the gensim model (so
both bound the same model; ``total_docs`` = training documents, as our ELBO's topic share).
Our coherence is also printed with gensim's epsilon conventions (``npmi(epsilon=1e-12)``,
``umass(smoothing=1e-12 * N)``), which is what must agree to rounding.

Part 2, a generated LDA corpus (``make_lda_corpus`` in chunks of 50,000 documents from one
set of topics) written as a corpus folder; ours is timed on prefixes of 1/4, 1/2 and all of
it (memory should stay flat), gensim on ``--gensim-docs`` and half that (it needs the
corpus in memory as Python lists; its input building is timed separately).

Peak memory is the rise of this process's peak RSS (VmHWM, reset before each measurement)
over its RSS just before: what the measured call itself added.

Fair timing: every timed call on 20 Newsgroups and in the gensim comparisons, ours and
gensim's alike, runs ``--repeats`` times (default 3) on the same data in the same process;
the best time is printed (and the largest memory rise). Ours is warmed once beforehand on
one row group, which loads or compiles its Numba kernels (cached on disk after the first
run ever); gensim's first repeat warms it the same way. The time of a cold first
``evaluate`` in a fresh process (kernels loaded from the cache) is printed separately.
Coherence on our side is :func:`svi_lda.evaluation.coherence_counts` (reads only the word
ids); gensim's is ``CoherenceModel`` on inputs built beforehand (not timed).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    CACHE,
    load_20ng,
    load_average,
    machine_info,
    peak_rss_mb,
    start_memory_window,
    table,
)

REPEATS = 3  # set from --repeats


def measure_once(fn, *args, **kwargs) -> tuple[Any, float, float]:
    """(result, seconds, MiB the call added to the peak RSS)."""
    base = start_memory_window()
    started = time.perf_counter()
    out = fn(*args, **kwargs)
    seconds = time.perf_counter() - started
    return out, seconds, max(peak_rss_mb() - base, 0.0)


def measure(fn, *args, **kwargs) -> tuple[Any, float, float]:
    """:func:`measure_once` ``REPEATS`` times: (last result, best seconds, largest MiB)."""
    runs = [measure_once(fn, *args, **kwargs) for _ in range(max(REPEATS, 1))]
    return runs[-1][0], min(r[1] for r in runs), max(r[2] for r in runs)


def gensim_inputs(X, words: list[str]):
    """gensim's Dictionary, bag-of-words list and token lists for a CSR matrix."""
    from gensim.corpora import Dictionary

    dictionary = Dictionary()
    dictionary.token2id = {w: i for i, w in enumerate(words)}
    dictionary.id2token = dict(enumerate(words))
    dictionary.dfs = {i: 1 for i in range(len(words))}
    dictionary.num_docs = X.shape[0]
    bow, texts = [], []
    for d in range(X.shape[0]):
        lo, hi = X.indptr[d], X.indptr[d + 1]
        ids, counts = X.indices[lo:hi].tolist(), X.data[lo:hi].astype(int).tolist()
        bow.append(list(zip(ids, counts, strict=True)))
        texts.append([words[i] for i, c in zip(ids, counts, strict=True) for _ in range(c)])
    return dictionary, bow, texts


def gensim_figures(model, X, words, top_n: int) -> dict[str, Any]:
    """gensim's u_mass, c_npmi and log_perplexity on our topics, each timed."""
    from gensim.models import LdaModel
    from gensim.models.coherencemodel import CoherenceModel

    from svi_lda.evaluation.report import model_documents

    (dictionary, bow, texts), build_s, build_mb = measure_once(gensim_inputs, X, words)
    topics = model.get_topics()
    top = np.argsort(-topics, axis=1, kind="stable")[:, :top_n]
    named = [[words[i] for i in row] for row in top]
    out: dict[str, Any] = {"build_s": build_s, "build_mb": build_mb}
    umass, out["umass_s"], out["umass_mb"] = measure(
        lambda: CoherenceModel(topics=named, corpus=bow, dictionary=dictionary,
                               coherence="u_mass", topn=top_n, processes=1).get_coherence()
    )
    window = max(len(t) for t in texts) + 1
    npmi, out["npmi_s"], out["npmi_mb"] = measure(
        lambda: CoherenceModel(topics=named, texts=texts, dictionary=dictionary,
                               coherence="c_npmi", topn=top_n, processes=1,
                               window_size=window).get_coherence()
    )
    lam = model.components_
    lda = LdaModel(id2word=dictionary, num_topics=lam.shape[0], alpha=model.doc_topic_prior_,
                   eta=model.state_.eta, iterations=100, gamma_threshold=1e-3,
                   dtype=np.float64, random_state=0)
    lda.state.sstats = lam - model.state_.eta
    lda.sync_state()
    bound, out["perplexity_s"], out["perplexity_mb"] = measure(
        lda.log_perplexity, bow, total_docs=int(model_documents(model))
    )
    out.update(umass=umass, npmi=npmi, log_perplexity=bound)
    return out


def ours_figures(model, corpus, top_n: int, *, timer=None) -> dict[str, Any]:
    """Our evaluate() (one streamed pass), coherence alone and ELBO alone, timed."""
    from svi_lda.evaluation import coherence_counts, evaluate

    timer = timer or measure
    report, seconds, mb = timer(evaluate, model, corpus, top_n=top_n, held_out=True)
    counts, coh_s, coh_mb = timer(coherence_counts, model, corpus, top_n=top_n)

    def elbo_only():
        # The E-step of score(), row group by row group: what log_perplexity computes.
        from svi_lda.bounds import topic_bound
        from svi_lda.evaluation.report import model_documents

        bound, tokens, docs = 0.0, 0.0, 0
        for batch in corpus.iter_batches():
            _, doc_bound, n_tokens = model._infer(batch)[:3]
            bound, tokens, docs = bound + doc_bound, tokens + n_tokens, docs + batch.n_docs
        return (bound + docs / model_documents(model) * topic_bound(model.state_)) / tokens

    elbo, elbo_s, elbo_mb = timer(elbo_only)
    return {
        "elbo_only": elbo, "elbo_s": elbo_s, "elbo_mb": elbo_mb,
        "report": report, "evaluate_s": seconds, "evaluate_mb": mb, "coherence_s": coh_s,
        "coherence_mb": coh_mb, "npmi": report.npmi, "umass": report.umass,
        "npmi_gensim_eps": counts.npmi(epsilon=1e-12),
        "umass_gensim_eps": counts.umass(smoothing=1e-12 * counts.n_docs),
        "elbo": report.elbo_per_token, "lp": report.log_predictive_per_token,
    }


def compare(name: str, ours: dict[str, Any], theirs: dict[str, Any]) -> None:
    print(f"\n### {name}: figures (nats; gensim's conventions on our side where stated)\n")
    print(table([
        {"what": "UMass (ours with smoothing 1e-12 N; gensim u_mass)",
         "ours": ours["umass_gensim_eps"], "gensim": theirs["umass"]},
        {"what": "NPMI (ours with epsilon 1e-12; gensim c_npmi, whole-doc window)",
         "ours": ours["npmi_gensim_eps"], "gensim": theirs["npmi"]},
        {"what": "ELBO per token (ours) / log_perplexity (gensim, same lambda)",
         "ours": ours["elbo"], "gensim": theirs["log_perplexity"]},
        {"what": "UMass, NPMI with our default conventions (smoothing 1, epsilon 0)",
         "ours": f"{ours['umass']:.6f}, {ours['npmi']:.6f}", "gensim": "-"},
        {"what": "held-out log predictive per token (document completion)",
         "ours": ours["lp"], "gensim": "none in gensim"},
    ], [("what", "figure", ""), ("ours", "svi-lda", ".6f"), ("gensim", "gensim", ".6f")]))
    gensim_total = theirs["umass_s"] + theirs["npmi_s"] + theirs["perplexity_s"]
    print(f"\n### {name}: time and memory (load average {load_average()})\n")
    print(table([
        {"what": "svi-lda evaluate (all figures, one streamed pass)",
         "s": ours["evaluate_s"], "mb": ours["evaluate_mb"]},
        {"what": "svi-lda coherence_counts (UMass + NPMI; word ids only)",
         "s": ours["coherence_s"], "mb": ours["coherence_mb"]},
        {"what": "svi-lda ELBO alone (the E-step of score(), by row group)",
         "s": ours["elbo_s"], "mb": ours["elbo_mb"]},
        {"what": "gensim: building its in-memory inputs (bow, texts)",
         "s": theirs["build_s"], "mb": theirs["build_mb"]},
        {"what": "gensim u_mass", "s": theirs["umass_s"], "mb": theirs["umass_mb"]},
        {"what": "gensim c_npmi", "s": theirs["npmi_s"], "mb": theirs["npmi_mb"]},
        {"what": "gensim log_perplexity", "s": theirs["perplexity_s"],
         "mb": theirs["perplexity_mb"]},
        {"what": "gensim, the three figures", "s": gensim_total, "mb": None},
    ], [("what", "step", ""), ("s", "seconds", ".2f"), ("mb", "peak MiB added", ".0f")]))
    print(f"\nspeed-up, coherence (gensim u_mass + c_npmi over our counts): "
          f"{(theirs['umass_s'] + theirs['npmi_s']) / ours['coherence_s']:.1f}x; "
          f"all figures (gensim's three over our one evaluate pass): "
          f"{gensim_total / ours['evaluate_s']:.1f}x; ELBO (gensim log_perplexity over our "
          f"ELBO alone): {theirs['perplexity_s'] / ours['elbo_s']:.1f}x")
    print(f"(ELBO alone gives {ours['elbo_only']:.6f} per token; best of {REPEATS} runs for "
          "every time above but gensim's input building)")


def newsgroups(top_n: int) -> None:
    from svi_lda import OnlineLDA
    from svi_lda.corpus import ParquetCorpus, from_csr

    data = load_20ng()
    folder = CACHE / "evaluate-20ng-test"
    if not (folder / "manifest.json").exists():
        from_csr(data.X_test, data.vocabulary, folder, overwrite=True)
    test = ParquetCorpus(folder)
    model = OnlineLDA(20, random_state=0, max_iter=5).fit(data.X_train)
    print(f"\n## 20 Newsgroups: K=20 (OnlineLDA, 5 passes over {data.X_train.shape[0]:,} "
          f"training documents), evaluated on the {test.n_docs:,} test documents "
          f"({test.n_tokens:,} tokens, V={test.n_features:,}), top {top_n} words")
    cold = cold_evaluate(model, test.path, top_n)
    evaluate_warm(model, test, top_n)
    ours = ours_figures(model, test, top_n)
    theirs = gensim_figures(model, data.X_test, data.vocabulary, top_n)
    compare("20 Newsgroups", ours, theirs)
    print(f"cold start: in a fresh process, import + load of the saved model + first "
          f"evaluate took {cold['total']:.2f} s (evaluate itself {cold['first']:.2f} s, "
          f"Numba kernels loaded from their cache), a second evaluate {cold['second']:.2f} s")


def cold_evaluate(model, corpus_path: Path, top_n: int) -> dict[str, float]:
    """Times of evaluate in a new Python process: import to result, first and second call."""
    import json
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        model.save(Path(tmp) / "model")
        code = (
            "import json, sys, time\n"
            "t0 = time.perf_counter()\n"
            "from svi_lda import load\n"
            "from svi_lda.evaluation import evaluate\n"
            f"m = load({str(Path(tmp) / 'model')!r})\n"
            "t1 = time.perf_counter()\n"
            f"evaluate(m, {str(corpus_path)!r}, top_n={top_n})\n"
            "t2 = time.perf_counter()\n"
            f"evaluate(m, {str(corpus_path)!r}, top_n={top_n})\n"
            "t3 = time.perf_counter()\n"
            "print(json.dumps({'total': t2 - t0, 'first': t2 - t1, 'second': t3 - t2}))\n"
        )
        out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                             text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def evaluate_warm(model, corpus, top_n: int) -> None:
    """Compile the kernels once (not timed): evaluate the first row group, read as the
    timed runs read it (int32 counts: Numba compiles per input type)."""
    from svi_lda.evaluation import coherence_counts, evaluate

    evaluate(model, prefix(corpus, 1), top_n=top_n)
    coherence_counts(model, prefix(corpus, 1), top_n=top_n)
    model._infer(corpus.read_unit(corpus.units[0]))


def generated_folder(n_docs: int, n_features: int, n_topics: int) -> Path:
    """A generated corpus folder of n_docs documents (cached), drawn in 50,000-doc chunks."""
    from svi_lda.corpus.writer import CorpusWriter
    from svi_lda.synthetic import make_lda_corpus

    folder = CACHE / f"evaluate-generated-{n_docs}-{n_features}-{n_topics}"
    if (folder / "manifest.json").exists():
        return folder
    topics = np.random.default_rng(0).dirichlet(np.full(n_features, 0.01), size=n_topics)
    writer = CorpusWriter(folder, [f"w{i}" for i in range(n_features)], row_group_size=4096,
                          overwrite=True)
    for chunk, start in enumerate(range(0, n_docs, 50_000)):
        n = min(50_000, n_docs - start)
        X = make_lda_corpus(n, n_features, n_topics, doc_length=100, alpha=0.1,
                            seed=chunk + 1, topics=topics).X
        writer.add(X.indptr.astype(np.int64), X.indices.astype(np.int32),
                   X.data.astype(np.int32), np.arange(start, start + n, dtype=np.int64))
    writer.close(source={"kind": "bench_evaluate generated"})
    return folder


def prefix(corpus, n_docs: int):
    """The same corpus object limited to its first units holding n_docs documents."""
    import copy

    out = copy.copy(corpus)
    units, total = [], 0
    for u in corpus.units:
        if total >= n_docs:
            break
        units.append(u)
        total += u.n_docs
    out.units, out.n_docs = units, total
    return out


def generated(n_docs: int, gensim_docs: int, n_topics: int, top_n: int) -> None:
    from svi_lda import OnlineLDA
    from svi_lda.corpus import ParquetCorpus

    n_features = 10_000
    started = time.perf_counter()
    corpus = ParquetCorpus(generated_folder(n_docs, n_features, n_topics))
    print(f"\n## Generated corpus: {corpus.n_docs:,} documents, {corpus.n_tokens:,} tokens, "
          f"V={n_features:,}, {n_topics} true topics, {len(corpus.units)} row groups "
          f"(ready in {time.perf_counter() - started:.0f} s)")
    train = prefix(corpus, 20_000)
    model = OnlineLDA(n_topics, random_state=0, max_iter=1, batch_size=2048).fit(train)
    print(f"model: OnlineLDA K={n_topics}, one pass over the first {train.n_docs:,} documents")
    evaluate_warm(model, corpus, top_n)
    rows = []
    for size in sorted({n_docs // 4, n_docs // 2, n_docs}):
        part = prefix(corpus, size)
        ours = ours_figures(model, part, top_n, timer=measure_once)  # one run: large
        rows.append({"docs": part.n_docs, "s": ours["evaluate_s"], "mb": ours["evaluate_mb"],
                     "coh_s": ours["coherence_s"], "coh_mb": ours["coherence_mb"],
                     "rate": part.n_docs / ours["evaluate_s"], "npmi": ours["npmi"],
                     "lp": ours["lp"], "load": load_average()})
    print("\n### svi-lda evaluate on growing prefixes (memory should stay flat)\n")
    print(table(rows, [("docs", "documents", ","), ("s", "evaluate s", ".1f"),
                       ("rate", "docs/s", ",.0f"), ("mb", "peak MiB added", ".0f"),
                       ("coh_s", "coherence s", ".1f"), ("coh_mb", "coherence MiB", ".0f"),
                       ("npmi", "NPMI", ".4f"), ("lp", "held-out LP", ".4f"),
                       ("load", "load average", "")]))
    for size in sorted({gensim_docs // 2, gensim_docs}):
        part = prefix(corpus, size)
        X = part.to_csr()
        ours = ours_figures(model, part, top_n)
        theirs = gensim_figures(model, X, list(corpus.vocabulary.words), top_n)
        compare(f"Generated, first {part.n_docs:,} documents", ours, theirs)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--docs", type=int, default=200_000, help="generated corpus size")
    p.add_argument("--gensim-docs", type=int, default=40_000,
                   help="largest generated prefix gensim is run on")
    p.add_argument("--topics", type=int, default=50, help="K of the generated corpus")
    p.add_argument("--top-words", type=int, default=10)
    p.add_argument("--skip-20ng", action="store_true")
    p.add_argument("--skip-generated", action="store_true")
    p.add_argument("--repeats", type=int, default=3,
                   help="runs of each timed call on 20 Newsgroups and in the gensim "
                   "comparisons, ours and gensim's (best time printed)")
    args = p.parse_args()
    global REPEATS
    REPEATS = args.repeats
    os.environ.setdefault("PYTHONHASHSEED", "0")
    print("# bench_evaluate\n")
    print("command: python " + " ".join(sys.argv))
    print(machine_info())
    if not args.skip_20ng:
        newsgroups(args.top_words)
    if not args.skip_generated:
        generated(args.docs, args.gensim_docs, args.topics, args.top_words)


if __name__ == "__main__":
    main()
