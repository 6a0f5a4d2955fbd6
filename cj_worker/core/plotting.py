"""matplotlib on demand, for the two plots (a batch's results and the harness curves).

matplotlib is an optional dependency (the ``plot`` extra). Both plots import it through
:func:`require_matplotlib` when they draw, so everything else works without it, and a
missing install is one error, :class:`PlottingUnavailableError`, that says which extra to
install. It lives in the core because the harness may import nothing else; importing this
module imports no matplotlib.
"""

from __future__ import annotations

from typing import Any

from cj_worker.core.errors import EXIT_USER_ERROR, CJWorkerError

PLOT_EXTRA_HINT = "pip install 'cj-worker[plot]'"


class PlottingUnavailableError(CJWorkerError, RuntimeError, exit_code=EXIT_USER_ERROR):
    """matplotlib is not installed."""


def require_matplotlib(purpose: str) -> Any:
    """``matplotlib.pyplot`` on the file-only Agg backend, or the error naming the extra.

    ``purpose`` starts the message, e.g. ``"--plot"`` gives "--plot needs matplotlib:
    pip install 'cj-worker[plot]'". Agg because the plots are written to files, also on
    machines without a display.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as pyplot
    except ImportError as error:
        raise PlottingUnavailableError(f"{purpose} needs matplotlib: {PLOT_EXTRA_HINT}") from error
    return pyplot
