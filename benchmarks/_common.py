"""Shared pieces of the benchmarks: data, machine facts, isolation, timing, tables.

Nothing here is imported by the library or collected by pytest.

Data (20 Newsgroups)
--------------------
``load_20ng()`` reads ``$SVI_LDA_DATA/20newsgroups/{train,test}.tsv.gz`` (default
``/work/shared/data``), and vectorises both sets with one scikit-learn ``CountVectorizer``
fitted on the training text::

    CountVectorizer(stop_words="english", min_df=5, max_df=0.5)   # default token pattern:
                                                                  # words of >= 2 letters

Documents left empty by the vocabulary are dropped (from both sets). The training rows
are shuffled with ``np.random.default_rng(0)`` because the file is sorted by label and
the online learners (gensim, scikit-learn, Vowpal Wabbit) take minibatches in file order.
The result is cached as an ``.npz`` under ``$SVI_LDA_BENCH_CACHE`` (default
``/tmp/svi-lda-bench``) so each library's fresh subprocess loads the exact same matrix.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import gzip
import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DATA_ROOT = Path(os.environ.get("SVI_LDA_DATA", "/work/shared/data"))
CACHE = Path(os.environ.get("SVI_LDA_BENCH_CACHE", "/tmp/svi-lda-bench"))
VECTORIZER_SETTINGS = {"stop_words": "english", "min_df": 5, "max_df": 0.5}
SHUFFLE_SEED = 0


# -- data ---------------------------------------------------------------------------------
@dataclass
class Corpus:
    """A train/test split as CSR count matrices (int64 counts) and the vocabulary."""

    X_train: sp.csr_matrix
    X_test: sp.csr_matrix
    vocabulary: list[str]

    @property
    def n_features(self) -> int:
        return self.X_train.shape[1]


def _read_tsv(path: Path) -> list[str]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        col = header.index("text")
        return [line.rstrip("\n").split("\t")[col] for line in f]


def load_20ng() -> Corpus:
    """20 Newsgroups train/test as described in the module docstring (cached)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    key = "20ng_" + "_".join(f"{k}{v}" for k, v in sorted(VECTORIZER_SETTINGS.items()))
    cache = CACHE / f"{key}_seed{SHUFFLE_SEED}.npz"
    if cache.exists():
        z = np.load(cache, allow_pickle=False)
        shape_tr, shape_te = tuple(z["shape_train"]), tuple(z["shape_test"])
        X_train = sp.csr_matrix((z["tr_data"], z["tr_indices"], z["tr_indptr"]), shape_tr)
        X_test = sp.csr_matrix((z["te_data"], z["te_indices"], z["te_indptr"]), shape_te)
        return Corpus(X_train, X_test, [str(w) for w in z["vocabulary"]])
    from sklearn.feature_extraction.text import CountVectorizer

    folder = DATA_ROOT / "20newsgroups"
    train_text = _read_tsv(folder / "train.tsv.gz")
    test_text = _read_tsv(folder / "test.tsv.gz")
    vec = CountVectorizer(**VECTORIZER_SETTINGS)
    X_train = vec.fit_transform(train_text).tocsr().astype(np.int64)
    X_test = vec.transform(test_text).tocsr().astype(np.int64)
    X_train = X_train[np.flatnonzero(X_train.getnnz(axis=1))]
    X_test = X_test[np.flatnonzero(X_test.getnnz(axis=1))]
    order = np.random.default_rng(SHUFFLE_SEED).permutation(X_train.shape[0])
    X_train = X_train[order]
    X_train.sort_indices()
    X_test.sort_indices()
    vocabulary = [str(w) for w in vec.get_feature_names_out()]
    tmp = cache.with_suffix(f".tmp{os.getpid()}.npz")
    np.savez(
        tmp,
        tr_data=X_train.data, tr_indices=X_train.indices, tr_indptr=X_train.indptr,
        te_data=X_test.data, te_indices=X_test.indices, te_indptr=X_test.indptr,
        shape_train=np.array(X_train.shape), shape_test=np.array(X_test.shape),
        vocabulary=np.array(vocabulary),
    )
    os.replace(tmp, cache)
    return Corpus(X_train, X_test, vocabulary)


def describe_corpus(c: Corpus) -> str:
    return (
        f"train {c.X_train.shape[0]:,} docs, {int(c.X_train.sum()):,} tokens, "
        f"{c.X_train.nnz:,} non-zeros; test {c.X_test.shape[0]:,} docs, "
        f"{int(c.X_test.sum()):,} tokens; V = {c.n_features:,} "
        f"(CountVectorizer({', '.join(f'{k}={v!r}' for k, v in VECTORIZER_SETTINGS.items())}), "
        f"empty docs dropped, train shuffled with seed {SHUFFLE_SEED})"
    )


# -- quality ------------------------------------------------------------------------------
def evaluate_topics(
    topic_word: np.ndarray,
    X_test: sp.csr_matrix,
    *,
    alpha: float | np.ndarray | None,
    reference: sp.csr_matrix | None = None,
) -> dict[str, float]:
    """Score any library's topics with svi-lda's evaluation functions (same code for all).

    Held-out completion perplexity on ``X_test`` (half of each document's tokens fold in
    theta with the library's own alpha, the other half is scored), NPMI of the top-10
    words with ``reference`` (default: the test set) as co-occurrence corpus, and topic
    diversity of the top-25 words.
    """
    from svi_lda.evaluation import completion_perplexity, npmi_coherence, topic_diversity

    topics = np.asarray(topic_word, dtype=np.float64)
    topics = topics / topics.sum(axis=1, keepdims=True)
    ref = X_test if reference is None else reference
    return {
        "perplexity": completion_perplexity(topics, X_test, doc_topic_prior=alpha, seed=0),
        "npmi": float(npmi_coherence(topics, ref)),
        "diversity": topic_diversity(topics),
    }


# -- machine ------------------------------------------------------------------------------
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def n_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _version(module: str) -> str:
    try:
        from importlib.metadata import version

        return version(module)
    except Exception:  # noqa: BLE001 - not installed is a normal answer here
        return "not installed"


def git_revision() -> str:
    try:
        rev = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "svi_lda"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
        return rev + (" (+ uncommitted changes in svi_lda/)" if dirty else "")
    except Exception:  # noqa: BLE001
        return "unknown"


def machine_info() -> str:
    flags = ""
    with contextlib.suppress(OSError):
        text = Path("/proc/cpuinfo").read_text()
        flags = ",".join(f for f in ("avx2", "fma", "avx512f") if f" {f}" in text)
    versions = ", ".join(
        f"{m} {_version(m)}"
        for m in ("numpy", "scipy", "numba", "gensim", "scikit-learn", "tomotopy", "vowpalwabbit")
    )
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"date: {_dt.datetime.now().astimezone().isoformat(timespec='seconds')}\n"
        f"machine: {cpu_model()} ({flags}), {n_cores()} cores, {mem:.1f} GiB, "
        f"{platform.system()} {platform.release()}\n"
        f"python {platform.python_version()}; svi-lda {git_revision()}; {versions}\n"
        f"load average (1, 5, 15 min): {load_average()}"
    )


_FLOPS_SCRIPT = """
import sys, time, numpy as np
from threadpoolctl import threadpool_limits
n = 1536
a = np.random.default_rng(0).random((n, n)); b = a.T.copy()
out = []
for threads in (1, 2):
    with threadpool_limits(threads):
        a @ b
        best = min((lambda t0: (a @ b, time.perf_counter() - t0)[1])(time.perf_counter())
                   for _ in range(7))
    out.append(2 * n ** 3 / best / 1e9)
print(out[0], out[1])
"""


def measure_flops() -> tuple[float, float]:
    """float64 GEMM GFLOP/s on 1 and on 2 threads (numpy's BLAS), best of 7, fresh process."""
    res = subprocess.run(
        [sys.executable, "-c", _FLOPS_SCRIPT], capture_output=True, text=True, check=True
    )
    one, two = res.stdout.split()
    return float(one), float(two)


# -- memory and isolation -----------------------------------------------------------------
def peak_rss_mb() -> float:
    """Peak resident set size of this process (MiB) since :func:`start_memory_window`.

    Linux's VmHWM, which ``start_memory_window`` resets; elsewhere ``ru_maxrss`` (peak
    over the whole process, data loading included).
    """
    with contextlib.suppress(OSError, ValueError, StopIteration):
        status = Path("/proc/self/status").read_text().splitlines()
        line = next(x for x in status if x.startswith("VmHWM:"))
        return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def start_memory_window() -> float:
    """Reset the peak-RSS mark (Linux ``/proc/self/clear_refs``); return the RSS now (MiB).

    Called just before fitting, so the peak reported afterwards is the fit's peak (data
    already in memory included) rather than a transient of loading the data.
    """
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")
    return rss_now_mb()


def children_peak_rss_mb() -> float:
    """Largest peak RSS among this process's finished children (MiB)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0


def rss_now_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def run_worker(script: Path, worker: str, params: dict[str, Any], timeout: float = 3600) -> dict:
    """Run ``script --worker NAME --params JSON`` in a fresh interpreter; return its JSON.

    The worker prints one line ``RESULT {json}``; its stderr passes through. A failure
    comes back as ``{"error": ...}`` so one broken library does not stop a run.
    """
    cmd = [sys.executable, str(script), "--worker", worker, "--params", json.dumps(params)]
    started = time.perf_counter()
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    for line in reversed(res.stdout.splitlines()):
        if line.startswith("RESULT "):
            out = json.loads(line[len("RESULT "):])
            out["process_seconds"] = time.perf_counter() - started
            return out
    tail = (res.stderr or res.stdout).strip().splitlines()[-5:]
    return {"error": f"exit {res.returncode}: " + " | ".join(tail)}


def emit_result(result: dict[str, Any]) -> None:
    """Worker side of :func:`run_worker`: add peak RSS and print the result line."""
    result.setdefault("peak_rss_mb", peak_rss_mb())
    result.setdefault("children_peak_rss_mb", children_peak_rss_mb())
    print("RESULT " + json.dumps(result, default=float), flush=True)


# -- timing the svi-lda step pieces -------------------------------------------------------
@dataclass
class StepProfile:
    """Seconds per piece of the svi-lda step, and the E-step's dense-equivalent flops."""

    estep_seconds: float = 0.0
    rows_seconds: float = 0.0
    update_seconds: float = 0.0
    vocab_seconds: float = 0.0
    estep_flops: float = 0.0
    n_steps: int = 0
    n_docs: int = 0
    doc_iterations: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return dict(self.__dict__)


@contextlib.contextmanager
def profile_steps() -> Iterator[StepProfile]:
    """Time the pieces of every svi-lda step taken inside the block.

    Wraps (for the block only) ``svi_lda.step.run_estep`` (the Numba E-step: document
    updates plus sufficient statistics), ``GlobalState.exp_elog_beta_rows`` (exp(E[log
    beta]) for the minibatch's words), ``svi_lda.step.natural_gradient_step`` (the lambda
    update) and ``svi_lda.step.unit_vocabulary``. The E-step's flops are counted
    dense-equivalent: 4 K flops (a dot product and an axpy over K topics) per non-zero per
    pass, with n_iter + 1 passes for a document that made n_iter gamma updates.
    Anything the core renames is simply not timed (its share shows up as overhead).
    """
    import svi_lda.step as step_mod
    from svi_lda.state import GlobalState

    prof = StepProfile()
    saved: list[tuple[Any, str, Any]] = []

    def wrap(owner: Any, name: str, on_result: Callable[..., None]) -> None:
        if not hasattr(owner, name):
            return
        original = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            out = original(*args, **kwargs)
            on_result(time.perf_counter() - t0, args, kwargs, out)
            return out

        saved.append((owner, name, original))
        setattr(owner, name, timed)

    def on_estep(dt: float, args: tuple, kwargs: dict, out: Any) -> None:
        prof.estep_seconds += dt
        indptr, exp_elog_beta = args[0], args[3]
        n_iter = np.asarray(out["n_iter"], dtype=np.float64)
        nnz = np.diff(np.asarray(indptr))
        prof.estep_flops += 4.0 * exp_elog_beta.shape[1] * float(np.sum(nnz * (n_iter + 1.0)))
        prof.n_docs += len(n_iter)
        prof.doc_iterations += float(n_iter.sum())

    def on_rows(dt: float, *_: Any) -> None:
        prof.rows_seconds += dt

    def on_update(dt: float, *_: Any) -> None:
        prof.update_seconds += dt
        prof.n_steps += 1

    def on_vocab(dt: float, *_: Any) -> None:
        prof.vocab_seconds += dt

    wrap(step_mod, "run_estep", on_estep)
    wrap(GlobalState, "exp_elog_beta_rows", on_rows)
    wrap(step_mod, "natural_gradient_step", on_update)
    wrap(step_mod, "unit_vocabulary", on_vocab)
    try:
        yield prof
    finally:
        for owner, name, original in reversed(saved):
            setattr(owner, name, original)


def warm_up_svi() -> None:
    """Compile (or load from cache) svi-lda's Numba kernels outside any timed region.

    Both dtypes: the benchmarks train in float32 (the default), and each dtype has its own
    compiled specialisations.
    """
    from svi_lda import OnlineLDA

    rng = np.random.default_rng(0)
    X = sp.random(64, 50, density=0.2, format="csr", random_state=1)
    X.data = rng.integers(1, 4, size=X.nnz).astype(np.float64)
    for dtype in ("float64", "float32"):
        OnlineLDA(4, max_iter=1, batch_size=32, n_jobs=2, random_state=0, dtype=dtype).fit(X)
    OnlineLDA(4, learning_method="cvb0", doc_topic_prior="auto", max_iter=1,
              random_state=0).fit(X)
    OnlineLDA(4, learning_method="scvb0", max_iter=1, batch_size=32, n_jobs=2,
              random_state=0).fit(X)


# -- tables -------------------------------------------------------------------------------
def fmt(value: Any, spec: str = "") -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "-"
    if isinstance(value, str):
        return value
    return format(value, spec) if spec else str(value)


def table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str, str]]) -> str:
    """Markdown table; ``columns`` are (key, header, format spec)."""
    head = "| " + " | ".join(h for _, h, _ in columns) + " |"
    sep = "|" + "|".join("---" if i == 0 else "---:" for i in range(len(columns))) + "|"
    body = [
        "| " + " | ".join(fmt(r.get(k), s) for k, _, s in columns) + " |" for r in rows
    ]
    return "\n".join([head, sep, *body])


def print_run_header(title: str) -> tuple[float, float]:
    """Print the title, the exact command, the machine and its measured GEMM rate."""
    print(f"## {title}\n")
    print("command: python " + " ".join(sys.argv))
    print(machine_info())
    flops = measure_flops()
    print(f"measured float64 GEMM: {flops[0]:.1f} GFLOP/s on 1 thread, "
          f"{flops[1]:.1f} GFLOP/s on 2 threads")
    return flops
