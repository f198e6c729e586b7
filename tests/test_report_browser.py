"""The HTML report opened in a real headless Chromium: no JavaScript errors, the plots
render, every topic's top words are on the page, and a screenshot is kept.

Chromium comes from Debian's packages (``apt-get install chromium``; ``.ci/run`` installs
it). Without it these tests skip, except when ``SVI_LDA_REQUIRE_BROWSER=1`` (set by CI),
where they fail. The screenshot is written to ``tests/artifacts/report.png``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

from svi_lda import OnlineLDA
from svi_lda.corpus import ParquetCorpus, ingest
from svi_lda.datasets import newsgroups_sample_path
from svi_lda.report import write_report
from svi_lda.report.summary import top_words
from svi_lda.text import Tokenizer
from tests.test_report import parse

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
N_TOPICS, N_WORDS = 12, 10

# Injected into a copy of the page (never into the report itself): records uncaught
# errors, rejected promises and console.error calls, then, after load, writes them with
# the bokeh views and the number of canvases drawn into a <pre id="probe">.
_CATCH = """<script>
window.__errors = [];
addEventListener('error', function (e) { __errors.push(String(e.message)); });
addEventListener('unhandledrejection', function (e) {
  __errors.push('unhandled rejection: ' + String(e.reason)); });
(function () { var original = console.error; console.error = function () {
  __errors.push(Array.prototype.join.call(arguments, ' '));
  return original.apply(console, arguments); }; })();
</script>"""
_PROBE = """<script>
function __canvases(root) { var n = root.querySelectorAll('canvas').length;
  root.querySelectorAll('*').forEach(function (el) {
    if (el.shadowRoot) { n += __canvases(el.shadowRoot); } }); return n; }
addEventListener('load', function () { setTimeout(function () {
  var kinds = [];  // the type of each root view bokeh drew
  try { kinds = Array.from(Bokeh.index).map(function (v) {
    return (Array.isArray(v) ? v[1] : v).model.type; }); } catch (e) { kinds = null; }
  var pre = document.createElement('pre'); pre.id = 'probe';
  pre.textContent = JSON.stringify({errors: __errors, views: kinds,
                                    canvases: __canvases(document)});
  document.body.appendChild(pre); }, 2500); });
</script>"""


@pytest.fixture(scope="module")
def chromium() -> str:
    """Path of a headless-capable Chromium; skips when absent unless CI requires it."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    message = ("Chromium not found: install it to run the report's browser tests "
               "(Debian/Ubuntu: apt-get install chromium)")
    if os.environ.get("SVI_LDA_REQUIRE_BROWSER") == "1":
        pytest.fail(f"SVI_LDA_REQUIRE_BROWSER=1 but {message}")
    pytest.skip(message)


def run_chromium(chromium: str, page: Path, *action: str) -> tuple[str, str]:
    """Open ``page`` headless (offline: every host name fails) and return (stdout, stderr)."""
    with tempfile.TemporaryDirectory(prefix="svi-lda-chromium-") as profile:
        done = subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={profile}", "--hide-scrollbars",
             "--host-resolver-rules=MAP * ~NOTFOUND", "--window-size=1400,2600",
             "--virtual-time-budget=15000", "--enable-logging=stderr", "--v=0",
             *action, page.resolve().as_uri()],
            capture_output=True, text=True, timeout=180,
        )
    return done.stdout, done.stderr


def console_errors(stderr: str) -> list[str]:
    """Chromium's log lines for uncaught errors, console errors and failed loads."""
    return [line for line in stderr.splitlines()
            if "CONSOLE" in line and re.search(r"Uncaught|ERROR:CONSOLE|Failed to load|"
                                               r"\[bokeh[^]]*\] .*error", line, re.I)]


def probe(chromium: str, page: Path, tmp: Path) -> tuple[dict, list[str], str]:
    """(probe record, console errors, DOM after scripts ran) for ``page``."""
    html = page.read_text(encoding="utf-8")
    instrumented = tmp / f"probed-{page.name}"
    instrumented.write_text(html.replace("<head>", "<head>" + _CATCH, 1)
                            .replace("</body>", _PROBE + "</body>", 1), encoding="utf-8")
    dom, stderr = run_chromium(chromium, instrumented, "--dump-dom")
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert found, f"the page never finished loading in Chromium; log:\n{stderr[-2000:]}"
    record = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    return record, console_errors(stderr), dom


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, OnlineLDA]:
    """The report of a model of the built-in 20 Newsgroups sample, with its corpus."""
    tmp = tmp_path_factory.mktemp("browser")
    ingest(newsgroups_sample_path(), tmp / "corpus", keep_fields=["label"],
           tokenizer=Tokenizer(stop_words="english"), min_df=5, max_df=0.5,
           row_group_size=256)
    corpus = ParquetCorpus(tmp / "corpus")
    model = OnlineLDA(n_components=N_TOPICS, batch_size=256, max_iter=2, random_state=0,
                      doc_topic_prior="auto").fit(corpus)
    history = model.history_
    n = len(history["step"])
    # A fit on a fixed corpus keeps its vocabulary; a stream's grows. Record a growing one
    # so the browser also draws the vocabulary-growth plot.
    history["n_features"] = [float(int(corpus.n_features * (0.7 + 0.3 * (i + 1) / n)))
                             for i in range(n)]
    out = write_report(model, tmp / "report.html", corpus, n_words=N_WORDS,
                       title="20 Newsgroups sample")
    return out, model


def test_report_loads_without_javascript_errors_and_draws_its_plots(chromium, report, tmp_path):
    page, _ = report
    record, errors, _ = probe(chromium, page, tmp_path)
    assert record["errors"] == [], record["errors"]
    assert errors == [], errors
    n_plots = page.read_text(encoding="utf-8").count('data-root-id="')
    assert n_plots == 4  # training curve, vocabulary growth, map, sizes
    assert record["views"].count("Figure") == n_plots
    assert record["canvases"] >= n_plots


def test_report_shows_every_topics_top_words_in_the_browser(chromium, report, tmp_path):
    page, model = report
    _, _, dom = probe(chromium, page, tmp_path)
    parsed = parse(dom)
    for k, words in enumerate(top_words(model, N_WORDS)):
        text = " ".join(parsed.by_topic[f"topic-{k}"])
        missing = [w for w, _ in words if w not in text]
        assert not missing, f"topic {k}: {missing} not on the page"
        assert "label" in text  # example documents, with the kept field


def test_report_screenshot(chromium, report):
    from PIL import Image

    page, _ = report
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report.png"
    shot.unlink(missing_ok=True)
    _, stderr = run_chromium(chromium, page, f"--screenshot={shot}")
    assert shot.is_file(), f"no screenshot written; log:\n{stderr[-2000:]}"
    image = np.asarray(Image.open(shot).convert("RGB")).astype(np.uint32)
    assert image.shape[:2] == (2600, 1400)
    colours = np.unique((image[..., 0] << 16) | (image[..., 1] << 8) | image[..., 2])
    assert len(colours) > 200  # plots and coloured topic cards, not a blank page
    print(f"\nscreenshot of the report: {shot}")


def test_the_probe_catches_a_broken_page(chromium, tmp_path):
    """The checks above can fail: a page with a JavaScript error is caught both ways."""
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><html><head><title>x</title></head><body><p>x</p>"
                    "<script>notDefinedAnywhere();</script></body></html>")
    record, errors, _ = probe(chromium, page, tmp_path)
    assert any("notDefinedAnywhere" in e for e in record["errors"])
    assert any("notDefinedAnywhere" in e for e in errors)
    assert record["views"] is None  # no bokeh on that page
