"""See a fitted model: a self-contained HTML report and an export to pyLDAvis.

>>> from svi_lda.report import write_report, to_pyldavis
>>> write_report(model, "report.html", corpus="corpus/")              # doctest: +SKIP
>>> import pyLDAvis; pyLDAvis.prepare(**to_pyldavis(model))         # doctest: +SKIP

The report needs bokeh (``pip install 'svi-lda[report]'``); the export needs nothing
beyond svi-lda itself.
"""

from svi_lda.report.ldavis import to_pyldavis
from svi_lda.report.page import render_report, write_report

__all__ = ["render_report", "to_pyldavis", "write_report"]
