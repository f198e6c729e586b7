"""Choosing the number of topics K: fit each K on part of a corpus, score, recommend.

A share of the documents is held out by a hash of their id
(:func:`svi_lda.evaluation.held_out_documents`); each K is fitted on the rest (in this
process, or one K per task on a Dask cluster) and reported with

- the ELBO per token on the training part (a lower bound on the evidence: it compares
  models on the data they were fitted to, with the topics' prior terms counted);
- the held-out log predictive per token by document completion (how well the topics
  predict unseen text);
- NPMI coherence (training part, top 10 words) and topic diversity (top 25).

Each criterion's pick is its best value. The recommendation follows the held-out log
predictive, with parsimony: the smallest K that reaches ``knee`` (default 90%) of the
improvement the best K makes over the smallest K of the grid. Past the true number of
topics the held-out figure flattens (more topics only split or duplicate), so the best
value alone often lands one grid step too far; the knee does not.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from svi_lda import storage


@dataclass(frozen=True)
class KResult:
    """Figures of one K (nats per token for the log figures)."""

    n_topics: int
    elbo_per_token: float | None
    log_predictive_per_token: float
    npmi: float
    diversity: float
    seconds: float


@dataclass(frozen=True)
class KSelection:
    """The outcome of :func:`select_k`."""

    results: list[KResult]
    picks: dict[str, int]
    recommended: int
    reason: str
    method: str
    held_out_share: float
    n_train_docs: int
    n_held_out_docs: int

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dictionary."""
        return asdict(self)

    def format(self) -> str:
        """A table of the figures, each criterion's pick and the recommendation."""
        lines = [
            f"{self.n_train_docs} training and {self.n_held_out_docs} held-out documents "
            f"({self.held_out_share:g} held out by document id hash); method {self.method}",
            f"{'K':>5} {'ELBO/token':>11} {'held-out LP/token':>18} {'(perplexity)':>13} "
            f"{'NPMI':>7} {'diversity':>9} {'seconds':>8}",
        ]
        for r in self.results:
            elbo = "n/a" if r.elbo_per_token is None else f"{r.elbo_per_token:.4f}"
            lines.append(
                f"{r.n_topics:>5} {elbo:>11} {r.log_predictive_per_token:>18.4f} "
                f"{np.exp(-r.log_predictive_per_token):>13.1f} {r.npmi:>7.3f} "
                f"{r.diversity:>9.3f} {r.seconds:>8.1f}"
            )
        lines.append("each criterion's pick: " + ", ".join(
            f"{name} -> K={k}" for name, k in self.picks.items()
        ))
        lines.append(f"recommended K={self.recommended}: {self.reason}")
        return "\n".join(lines)


def fit_and_score(
    train_path: str, held_out_path: str, n_topics: int, settings: dict[str, Any]
) -> KResult:
    """Fit one K on the training folder and score it (in process; also a Dask task)."""
    from svi_lda.corpus import ParquetCorpus
    from svi_lda.estimator import OnlineLDA
    from svi_lda.evaluation.report import evaluate

    started = time.perf_counter()
    train = ParquetCorpus(train_path)
    model = OnlineLDA(n_topics, **settings).fit(train)
    on_train = evaluate(model, train, held_out=False)
    on_held = evaluate(model, ParquetCorpus(held_out_path), held_out=True)
    return KResult(
        n_topics=int(n_topics),
        elbo_per_token=on_train.elbo_per_token,
        log_predictive_per_token=on_held.log_predictive_per_token,
        npmi=on_train.npmi,
        diversity=on_train.diversity,
        seconds=time.perf_counter() - started,
    )


def recommend(results: Sequence[KResult], knee: float = 0.9) -> tuple[int, str]:
    """The recommended K and why (see the module docstring)."""
    ks = [r.n_topics for r in results]
    lp = np.array([r.log_predictive_per_token for r in results])
    best = int(np.argmax(lp))
    gain = lp[best] - lp[0]
    if gain <= 0:
        return ks[0], (
            f"the held-out log predictive is best at the smallest K tried ({ks[0]}); "
            "try smaller values"
        )
    first = int(np.flatnonzero(lp - lp[0] >= knee * gain)[0])
    reason = (
        f"the held-out log predictive per token (how well the topics predict unseen text) "
        f"is best at K={ks[best]} ({lp[best]:.4f} nats)"
    )
    if first < best:
        reason += (
            f"; K={ks[first]} already reaches {100 * (lp[first] - lp[0]) / gain:.0f}% of "
            f"its gain over K={ks[0]} (>= {100 * knee:.0f}%), and fewer topics are easier "
            "to read"
        )
    if best == len(ks) - 1 and first == best:
        reason += "; it is the largest K tried, so larger values may do better still"
    return ks[first], reason


def select_k(
    corpus: Any,
    topics: Sequence[int],
    *,
    method: str = "online",
    passes: int = 10,
    held_out: float = 0.1,
    seed: int = 0,
    client: Any = None,
    work_dir: str | os.PathLike | None = None,
    knee: float = 0.9,
    batch_size: int = 512,
) -> KSelection:
    """Fit each K in ``topics`` on part of ``corpus`` and recommend one.

    Parameters
    ----------
    corpus : corpus folder path or ParquetCorpus
    topics : sequence of int
        The K values to try (at least two).
    method : {"online", "batch", "cvb0"}
        OnlineLDA's ``learning_method``; ``passes`` is its ``max_iter``.
    held_out : float, default=0.1
        Share of documents held out (by document id hash, seeded by ``seed``).
    client : distributed.Client, optional
        Fit the K values in parallel, one task per K (workers must see ``work_dir``).
    work_dir : path, optional
        Where the two parts of the corpus are written (default: a temporary folder,
        removed afterwards).
    knee : float, default=0.9
        Share of the best held-out gain the recommended K must reach.

    Returns
    -------
    KSelection
    """
    from svi_lda.corpus import ParquetCorpus
    from svi_lda.evaluation.split import split_corpus

    ks = sorted({int(k) for k in topics})
    if len(ks) < 2 or ks[0] < 1:
        raise ValueError(f"select_k needs at least two positive K values; got {list(topics)}")
    corpus = corpus if isinstance(corpus, ParquetCorpus) else ParquetCorpus(corpus)
    settings = {"learning_method": method, "max_iter": passes, "random_state": seed,
                "batch_size": batch_size}
    with tempfile.TemporaryDirectory(prefix="svi-lda-select-k-") as tmp:
        base = storage.location(work_dir) if work_dir is not None else Path(tmp)
        train, held = split_corpus(corpus, base, held_out, seed)
        if train.n_docs == 0 or held.n_docs == 0:
            raise ValueError(
                f"holding out {held_out} of {corpus.n_docs} documents leaves one side empty"
            )
        paths = (storage.absolute(train.path), storage.absolute(held.path))
        if client is None:
            results = [fit_and_score(*paths, k, settings) for k in ks]
        else:
            futures = [client.submit(fit_and_score, *paths, k, {**settings, "n_jobs": 1},
                                     pure=False) for k in ks]
            results = client.gather(futures)
    picks = {"held-out log predictive": ks[int(np.argmax(
        [r.log_predictive_per_token for r in results]))]}
    if all(r.elbo_per_token is not None for r in results):
        picks["training ELBO"] = ks[int(np.argmax([r.elbo_per_token for r in results]))]
    picks["NPMI"] = ks[int(np.argmax([r.npmi for r in results]))]
    picks["diversity"] = ks[int(np.argmax([r.diversity for r in results]))]
    recommended, reason = recommend(results, knee)
    if picks["NPMI"] != recommended:
        reason += f"; NPMI prefers K={picks['NPMI']}: look at both sets of topics"
    return KSelection(
        results=list(results), picks=picks, recommended=recommended, reason=reason,
        method=method, held_out_share=held_out, n_train_docs=train.n_docs,
        n_held_out_docs=held.n_docs,
    )


def plot_selection(selection: KSelection, path: str | os.PathLike) -> storage.Location:
    """Draw each criterion against K: a PNG (matplotlib) or an HTML page (bokeh).

    ``path`` is a local file (written atomically) or an fsspec URL. Needs the ``plot``
    extra (``pip install svi-lda[plot]``) for PNG, bokeh for HTML.
    """
    path = storage.location(path)
    ks = [r.n_topics for r in selection.results]
    curves = {"held-out log predictive per token": [
        r.log_predictive_per_token for r in selection.results
    ]}
    if all(r.elbo_per_token is not None for r in selection.results):
        curves["training ELBO per token"] = [r.elbo_per_token for r in selection.results]
    curves["NPMI"] = [r.npmi for r in selection.results]
    curves["topic diversity"] = [r.diversity for r in selection.results]
    if str(path).lower().endswith(".html"):
        return _plot_bokeh(ks, curves, selection.recommended, path)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            "a PNG plot needs matplotlib: pip install 'svi-lda[plot]' (or write .html with "
            "bokeh installed)"
        ) from exc
    fig, axes = plt.subplots(1, len(curves), figsize=(4 * len(curves), 3.4))
    for ax, (name, values) in zip(np.atleast_1d(axes), curves.items(), strict=True):
        ax.plot(ks, values, marker="o")
        ax.axvline(selection.recommended, color="grey", linestyle="--", linewidth=1)
        ax.set_xlabel("number of topics K")
        ax.set_title(name, fontsize=10)
        ax.set_xticks(ks)
    fig.suptitle(f"svi-lda select-k: recommended K={selection.recommended}", fontsize=11)
    fig.tight_layout()
    import io

    png = io.BytesIO()
    fig.savefig(png, dpi=100, format="png")
    plt.close(fig)
    storage.write_bytes(path, png.getvalue())
    return path


def _plot_bokeh(ks: list[int], curves: dict[str, list[float]], recommended: int,
                path: storage.Location) -> storage.Location:
    try:
        from bokeh.embed import file_html
        from bokeh.layouts import row
        from bokeh.models import Span
        from bokeh.plotting import figure
        from bokeh.resources import INLINE
    except ImportError as exc:
        raise ImportError("an HTML plot needs bokeh (pip install bokeh)") from exc
    plots = []
    for name, values in curves.items():
        fig = figure(title=name, width=320, height=280, x_axis_label="number of topics K")
        fig.line(ks, values)
        fig.scatter(ks, values, size=7)
        fig.add_layout(Span(location=recommended, dimension="height", line_dash="dashed"))
        plots.append(fig)
    html = file_html(row(*plots), INLINE, title=f"svi-lda select-k: K={recommended}")
    storage.write_bytes(path, html.encode())
    return path
