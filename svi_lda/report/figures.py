"""The report's plots, drawn with bokeh (the Dask dashboard's plotting library).

bokeh is an optional dependency (``pip install 'svi-lda[report]'``); importing this module
without it raises an ImportError that names the extra.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

try:
    from bokeh.embed import components
    from bokeh.models import ColumnDataSource, CustomJS, HoverTool, LabelSet, NumeralTickFormatter
    from bokeh.palettes import Category10, Turbo256, linear_palette
    from bokeh.plotting import figure
    from bokeh.resources import Resources
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "svi-lda's HTML report needs bokeh, which is not installed: "
        "pip install 'svi-lda[report]' (or pip install bokeh)."
    ) from exc

from svi_lda.report.summary import Curve

TOOLS = "pan,wheel_zoom,box_zoom,reset,save"
INK = "#334155"
ACCENT = "#2563eb"

# Clicking a topic in a plot scrolls its card into view and flashes it.
_SHOW_CARD = """
const i = source.selected.indices;
if (i.length === 0) { return; }
const card = document.getElementById('topic-' + source.data.topic[i[0]]);
if (card) {
  card.scrollIntoView({behavior: 'smooth', block: 'center'});
  card.classList.remove('flash'); void card.offsetWidth; card.classList.add('flash');
}
"""


def inline_resources() -> str:
    """bokeh's JavaScript and CSS as inline ``<script>``/``<style>`` tags (core only)."""
    return Resources(mode="inline", components=["bokeh"]).render()


def embed(plots: dict[str, figure]) -> tuple[str, dict[str, str]]:
    """The ``<script>`` that draws ``plots`` and one ``<div>`` per plot, by name."""
    return components(plots)


def topic_colors(n_topics: int) -> list[str]:
    """One colour per topic, shared by every plot and the topic cards."""
    if n_topics <= 10:
        return list(Category10[10][:n_topics])
    # Turbo without its darkest and palest ends, taken with a stride so that neighbouring
    # topic numbers get distant hues.
    hues = linear_palette(Turbo256[24:232], n_topics)
    stride = next(s for s in range(max(2, round(0.38 * n_topics)), n_topics)
                  if math.gcd(s, n_topics) == 1)
    return [hues[(k * stride) % n_topics] for k in range(n_topics)]


def _style(fig: figure) -> figure:
    fig.toolbar.logo = None
    fig.outline_line_color = None
    fig.background_fill_color = "#ffffff"
    fig.border_fill_color = "#ffffff"
    fig.title.text_color = INK
    fig.title.text_font_size = "13px"
    for axis in (*fig.xaxis, *fig.yaxis):
        axis.axis_label_text_color = INK
        axis.axis_label_text_font_style = "normal"
        axis.major_label_text_color = "#64748b"
        axis.axis_line_color = "#cbd5e1"
        axis.major_tick_line_color = "#cbd5e1"
        axis.minor_tick_line_color = None
    fig.grid.grid_line_color = "#eef2f7"
    return fig


def moving_average(y: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average of ``y``; the ends average over the points they have."""
    kernel = np.ones(window)
    total = np.convolve(y, kernel, mode="same")
    count = np.convolve(np.ones_like(y), kernel, mode="same")
    return total / count


def curve_figure(curve: Curve, title: str, *, step: bool = False) -> figure:
    """A line over ``curve.x``; hover shows the point (and step, rho, seconds if known)."""
    data = {"x": curve.x, "y": curve.y}
    tooltips = [(curve.x_label, "@x{0,0}"), (curve.y_label, "@y{0,0.0000}")]
    for key, label, fmt in (("step", "step", "{0,0}"), ("rho", "rho", "{0.0000}"),
                            ("seconds", "seconds", "{0,0.0}")):
        if curve.extra and key in curve.extra:
            data[key] = curve.extra[key]
            tooltips.append((label, f"@{key}{fmt}"))
    source = ColumnDataSource(data)
    fig = figure(title=title, height=300, sizing_mode="stretch_width", tools=TOOLS,
                 x_axis_label=curve.x_label, y_axis_label=curve.y_label)
    if step:
        drawn = fig.step("x", "y", source=source, line_width=2, color=ACCENT, mode="after")
    elif len(curve.x) >= 20:
        # A noisy per-minibatch figure: the points faint, a centred moving average on top.
        drawn = fig.scatter("x", "y", source=source, size=4, color=ACCENT, alpha=0.35,
                            legend_label="per step")
        fig.line(curve.x, moving_average(curve.y, max(3, len(curve.y) // 25)), line_width=2.5,
                 color=ACCENT, legend_label="moving average")
        fig.legend.location = "bottom_right"
        fig.legend.background_fill_alpha = 0.7
        fig.legend.border_line_color = None
    else:
        drawn = fig.line("x", "y", source=source, line_width=2, color=ACCENT)
        fig.scatter("x", "y", source=source, size=5, color=ACCENT)
    fig.add_tools(HoverTool(tooltips=tooltips, mode="vline", renderers=[drawn]))
    fig.xaxis.formatter = NumeralTickFormatter(format="0,0")
    return _style(fig)


def sizes_figure(shares: np.ndarray, colors: Sequence[str], labels: Sequence[str]) -> figure:
    """Each topic's share of the tokens, as bars; hover and click name its words."""
    n = len(shares)
    source = ColumnDataSource({
        "topic": np.arange(n), "share": shares, "color": list(colors), "words": list(labels),
    })
    fig = figure(title="Topic sizes: share of the tokens", height=460,
                 sizing_mode="stretch_width", tools="tap," + TOOLS,
                 x_axis_label="topic", y_axis_label="share of tokens")
    fig.vbar(x="topic", top="share", width=0.8, color="color", source=source,
             nonselection_fill_alpha=0.35, selection_fill_alpha=1.0)
    fig.add_tools(HoverTool(tooltips=[("topic", "@topic"), ("share", "@share{0.0%}"),
                                      ("words", "@words")]))
    fig.yaxis.formatter = NumeralTickFormatter(format="0%")
    fig.xaxis.ticker.desired_num_ticks = min(n, 20)
    fig.x_range.start, fig.x_range.end = -0.6, n - 0.4
    fig.x_range.range_padding = 0
    fig.y_range.start = 0
    source.selected.js_on_change("indices", CustomJS(args={"source": source}, code=_SHOW_CARD))
    return _style(fig)


def map_figure(
    coords: np.ndarray, shares: np.ndarray, colors: Sequence[str], labels: Sequence[str]
) -> figure:
    """Topics placed by classical MDS of their Jensen-Shannon distances, sized by share."""
    n = len(shares)
    radius = 10 + 42 * np.sqrt(shares / max(float(np.max(shares, initial=0.0)), 1e-300))
    source = ColumnDataSource({
        "x": coords[:, 0], "y": coords[:, 1], "topic": np.arange(n),
        "label": [str(k) for k in range(n)], "share": shares, "size": radius,
        "color": list(colors), "words": list(labels),
    })
    fig = figure(title="Inter-topic distance map (Jensen-Shannon, classical MDS)", height=460,
                 sizing_mode="stretch_width", tools="tap," + TOOLS, match_aspect=True,
                 x_axis_label="MDS axis 1", y_axis_label="MDS axis 2")
    fig.scatter("x", "y", size="size", color="color", fill_alpha=0.55, line_color="white",
                line_width=1.5, source=source, nonselection_fill_alpha=0.2,
                selection_fill_alpha=0.9)
    fig.add_layout(LabelSet(x="x", y="y", text="label", source=source, text_align="center",
                            text_baseline="middle", text_font_size="11px",
                            text_color="#0f172a"))
    fig.add_tools(HoverTool(tooltips=[("topic", "@topic"), ("share", "@share{0.0%}"),
                                      ("words", "@words")]))
    fig.x_range.range_padding = fig.y_range.range_padding = 0.2
    source.selected.js_on_change("indices", CustomJS(args={"source": source}, code=_SHOW_CARD))
    return _style(fig)
