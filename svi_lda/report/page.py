"""The HTML report: one self-contained page (bokeh's JavaScript and the CSS inlined).

Words, weights, sizes and example documents are HTML text; the plots are bokeh figures
embedded with :func:`bokeh.embed.components`. The page loads nothing from the network.
"""

from __future__ import annotations

import datetime as _dt
import html
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from svi_lda import storage
from svi_lda.report import summary
from svi_lda.report.distance import classical_mds, topic_distances

logger = logging.getLogger(__name__)


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def render_report(
    model: Any,
    corpus: Any = None,
    *,
    n_words: int = 12,
    n_docs: int = 3,
    title: str | None = None,
    client: Any = None,
) -> str:
    """The report for a fitted model as one HTML string (see :func:`write_report`)."""
    from svi_lda.report import figures  # raises an ImportError naming the extra

    model._check_fitted()
    n_topics = model.n_components
    words = summary.words_of(model)
    tops = summary.top_words(model, n_words, words)
    sizes, size_source = summary.topic_sizes(model)
    shares = sizes / sizes.sum() if sizes.sum() > 0 else np.full(n_topics, 1.0 / n_topics)
    doc_counts = summary.topic_doc_counts(model)
    colors = figures.topic_colors(n_topics)
    labels = [" ".join(w for w, _ in t[:5]) for t in tops]

    examples = None
    if corpus is not None:
        from svi_lda.corpus import ParquetCorpus
        from svi_lda.report.examples import top_documents

        corpus = corpus if isinstance(corpus, ParquetCorpus) else ParquetCorpus(corpus)
        examples = top_documents(model, corpus, n_docs=n_docs, client=client)

    plots: dict[str, Any] = {}
    notes: dict[str, str] = {}
    curve = summary.training_curve(model)
    if curve is not None:
        plots["curve"] = figures.curve_figure(curve, f"Training: {curve.y_label}")
        if curve.note:
            notes["curve"] = curve.note
    else:
        notes["curve"] = ("No training curve: this model kept no history of its fit "
                          "(neither history_ nor bound_history_).")
    growth = summary.vocabulary_growth(model)
    if growth is not None:
        plots["growth"] = figures.curve_figure(growth, "Vocabulary growth", step=True)
    coords = classical_mds(topic_distances(summary.topic_word(model)))
    plots["map"] = figures.map_figure(coords, shares, colors, labels)
    plots["sizes"] = figures.sizes_figure(shares, colors, labels)

    script, divs = figures.embed(plots)
    heading = title or f"Topic model: {n_topics} topics"
    body = [
        _header(heading, summary.model_facts(model)),
        _nav(),
        _section("training", "Training",
                 _note(notes.get("curve")) + divs.get("curve", "")
                 + (divs["growth"] if "growth" in divs else "")),
        _section("overview", "Topics at a glance",
                 '<div class="two">' + f'<div class="panel">{divs["map"]}</div>'
                 + f'<div class="panel">{divs["sizes"]}</div></div>'
                 + f'<p class="hint">Circle and bar sizes: {_esc(size_source)}. Click a '
                 "topic to jump to its words.</p>"
                 + ("" if doc_counts is None else
                    '<p class="hint">Documents per topic: the sum over the documents seen '
                    "of each one's share of the topic.</p>")),
        _section("topics", "Topics and their words",
                 '<div class="cards">' + "".join(
                     _card(k, tops[k], shares[k], None if doc_counts is None else doc_counts[k],
                           colors[k], None if examples is None else examples[k])
                     for k in range(n_topics)) + "</div>"
                 + ("" if examples is not None else _note(
                     "No example documents: give the corpus (--corpus) to list each topic's "
                     "top documents."))),
    ]
    return _PAGE.format(
        title=_esc(heading),
        resources=figures.inline_resources(),
        style=_STYLE,
        body="\n".join(body),
        script=script,
        generated=_esc(_dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")),
    )


def write_report(
    model: Any,
    out: str | os.PathLike[str],
    corpus: Any = None,
    *,
    n_words: int = 12,
    n_docs: int = 3,
    title: str | None = None,
    client: Any = None,
) -> storage.Location:
    """Write a self-contained HTML report of a fitted model to ``out`` (atomically).

    The page needs no server and no network: bokeh's JavaScript is inlined. It shows the
    training curve (the fit's per-step figure against documents seen), the vocabulary
    growth of a streaming model, topic sizes, an inter-topic distance map, each topic's top
    words with their probabilities and, when ``corpus`` is given, each topic's example
    documents (one streaming pass over the corpus's row groups).

    Parameters
    ----------
    model : OnlineLDA or path
        A fitted model, or the folder of a saved one.
    out : path or URL
        The HTML file to write: a local path (written atomically) or an fsspec URL
        (``s3://bucket/reports/model.html``: one upload, whole or not at all).
    corpus : ParquetCorpus or path, optional
        The corpus the model was trained on (same vocabulary), for example documents.
    n_words : int, default=12
        Top words listed per topic.
    n_docs : int, default=3
        Example documents per topic.
    title : str, optional
        The page's heading.
    client : distributed.Client, optional
        Compute the example documents on this cluster (its workers must see the corpus
        folder); by default in this process. The page is the same either way.

    Returns
    -------
    Path or str
        ``out`` (a :class:`Path`, or the URL).

    Raises
    ------
    ImportError
        If bokeh is not installed (``pip install 'svi-lda[report]'``).
    """
    if isinstance(model, str | os.PathLike):
        from svi_lda import load

        model = load(model)
    page = render_report(model, corpus, n_words=n_words, n_docs=n_docs, title=title,
                         client=client)
    out = storage.location(out)
    if isinstance(out, Path):
        out.parent.mkdir(parents=True, exist_ok=True)
    storage.write_bytes(out, page.encode("utf-8"))
    logger.info("report written to %s (%.1f MB)", out, len(page) / 1e6)
    return out


def _header(heading: str, facts: list[tuple[str, str]]) -> str:
    chips = "".join(
        f'<div class="fact"><span>{_esc(k)}</span><b>{_esc(v)}</b></div>' for k, v in facts
    )
    return (f'<header><h1>{_esc(heading)}</h1><p class="sub">svi-lda report</p>'
            f'<div class="facts">{chips}</div></header>')


def _nav() -> str:
    links = [("training", "Training"), ("overview", "Map and sizes"), ("topics", "Topics")]
    return "<nav>" + "".join(f'<a href="#{a}">{t}</a>' for a, t in links) + "</nav>"


def _section(anchor: str, heading: str, inner: str) -> str:
    return f'<section id="{anchor}"><h2>{_esc(heading)}</h2>{inner}</section>'


def _note(text: str | None) -> str:
    return f'<p class="note">{_esc(text)}</p>' if text else ""


def _card(
    k: int, words: list[tuple[str, float]], share: float, doc_count: float | None,
    color: str, examples: list[Any] | None,
) -> str:
    top = words[0][1] if words and words[0][1] > 0 else 1.0
    rows = "".join(
        f'<li><span class="w">{_esc(w)}</span>'
        f'<span class="bar"><i style="width:{100 * p / top:.1f}%"></i></span>'
        f'<span class="p">{p:.4f}</span></li>'
        for w, p in words
    )
    meta = f"{100 * share:.1f}% of tokens"
    if doc_count is not None:
        meta += f" &middot; {doc_count:,.0f} documents"
    docs = ""
    if examples:
        items = "".join(_example(ex) for ex in examples)
        docs = (f"<details><summary>Example documents ({len(examples)})</summary>"
                f'<ol class="docs">{items}</ol></details>')
    return (
        f'<article class="topic" id="topic-{k}" style="--c:{_esc(color)}">'
        f'<h3><span class="dot"></span>Topic {k}</h3><div class="meta">{meta}</div>'
        f'<ol class="words">{rows}</ol>{docs}</article>'
    )


def _example(ex: Any) -> str:
    fields = "".join(
        f'<div class="field"><span>{_esc(name)}</span> {_esc(text)}</div>'
        for name, text in ex.fields.items() if text
    )
    words = ", ".join(f"{_esc(w)}&nbsp;&times;{c}" for w, c in ex.words)
    return (f'<li><div class="dmeta">document {ex.doc_id} &middot; {100 * ex.share:.0f}% this '
            f"topic &middot; {ex.n_tokens:,} tokens</div>{fields}"
            f'<div class="dwords">{words}</div></li>')


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
{resources}
<style>{style}</style>
</head>
<body>
<main>
{body}
<footer>Generated by svi-lda on {generated}. Self-contained: no server or network needed.
</footer>
</main>
{script}
</body>
</html>
"""

_STYLE = """
:root { --ink:#0f172a; --muted:#64748b; --line:#e2e8f0; --bg:#f5f7fb; --accent:#2563eb; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--ink);
  font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif; }
main { max-width:1280px; margin:0 auto; padding:24px 28px 48px; }
header h1 { margin:0; font-size:26px; letter-spacing:-0.01em; }
header .sub { margin:2px 0 14px; color:var(--muted); }
.facts { display:flex; flex-wrap:wrap; gap:8px; }
.fact { background:#fff; border:1px solid var(--line); border-radius:10px; padding:6px 12px; }
.fact span { display:block; font-size:11px; color:var(--muted); text-transform:uppercase;
  letter-spacing:.04em; }
.fact b { font-size:15px; font-weight:600; }
nav { position:sticky; top:0; z-index:5; display:flex; gap:18px; margin:18px -28px 0;
  padding:10px 28px; background:rgba(245,247,251,.92); backdrop-filter:blur(4px);
  border-bottom:1px solid var(--line); }
nav a { color:var(--accent); text-decoration:none; font-weight:500; }
section { margin-top:26px; }
h2 { font-size:18px; margin:0 0 10px; }
section > div, .panel { background:#fff; border:1px solid var(--line); border-radius:12px;
  padding:10px; }
section > div + div { margin-top:12px; }
.two { display:grid; grid-template-columns:3fr 2fr; gap:14px; background:none !important;
  border:none !important; padding:0 !important; }
@media (max-width: 900px) { .two { grid-template-columns:1fr; } }
.hint, .note { color:var(--muted); margin:8px 2px; }
.note { background:#fff8e6; border:1px solid #f6d48b; color:#7a5200; border-radius:10px;
  padding:8px 12px; }
.cards { display:grid; grid-template-columns:repeat(auto-fill, minmax(270px, 1fr)); gap:14px;
  background:none !important; border:none !important; padding:0 !important; }
.topic { background:#fff; border:1px solid var(--line); border-top:4px solid var(--c);
  border-radius:12px; padding:10px 14px 12px; scroll-margin-top:60px; }
.topic.flash { animation:flash 1.2s ease-out; }
@keyframes flash { from { box-shadow:0 0 0 4px var(--c); } to { box-shadow:0 0 0 0 transparent; } }
.topic h3 { margin:0; font-size:15px; display:flex; align-items:center; gap:8px; }
.topic .meta { color:var(--muted); font-size:12px; margin:1px 0 8px 18px; }
.dot { width:10px; height:10px; border-radius:50%; background:var(--c); display:inline-block; }
.words { list-style:none; margin:0; padding:0; }
.words li { display:grid; grid-template-columns:minmax(0,9em) 1fr 4.2em; align-items:center;
  gap:8px; padding:1px 0; }
.words .w { overflow:hidden; text-overflow:ellipsis; white-space:nowrap; }
.words .bar { height:8px; background:#f1f5f9; border-radius:4px; overflow:hidden; }
.words .bar i { display:block; height:100%; background:var(--c); opacity:.75; }
.words .p { text-align:right; font-variant-numeric:tabular-nums; color:var(--muted);
  font-size:12px; }
details { margin-top:10px; border-top:1px solid var(--line); padding-top:6px; }
summary { cursor:pointer; color:var(--accent); font-weight:500; }
.docs { margin:6px 0 0; padding-left:18px; }
.docs li { margin:6px 0; }
.dmeta { font-size:12px; color:var(--muted); }
.field { font-size:12.5px; } .field span { color:var(--muted); font-size:11px; }
.dwords { font-size:12.5px; }
footer { margin-top:32px; color:var(--muted); font-size:12px; }
"""
