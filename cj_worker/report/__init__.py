"""A batch's results for a reader who is not a statistician: a self-contained HTML page.

- :mod:`cj_worker.report.model`: the report's own view of the results, built by one
  adapter from what the repositories return (the only module that knows that shape);
- :mod:`cj_worker.report.palette`: one colour per grade, shared by the page and the plot;
- :mod:`cj_worker.report.wording`: every figure said in words, with its threshold;
- :mod:`cj_worker.report.page`: the HTML page (``write_report``).

This package imports nothing at import time, so importing one module never pulls in the
others (:mod:`cj_worker.report.plot` draws from the model and the page embeds the plot).
"""
