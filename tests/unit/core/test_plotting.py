"""matplotlib on demand: the pyplot module on a file backend, or one error naming the extra."""

from __future__ import annotations

import sys

import pytest

from cj_worker.core.errors import CJWorkerError
from cj_worker.core.plotting import PlottingUnavailableError, require_matplotlib


def test_without_matplotlib_the_error_names_the_purpose_and_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib raises

    with pytest.raises(PlottingUnavailableError) as error:
        require_matplotlib("--plot")

    assert str(error.value) == "--plot needs matplotlib: pip install 'cj-worker[plot]'"
    assert isinstance(error.value, CJWorkerError)
    assert error.value.exit_code == 2
    assert isinstance(error.value.__cause__, ImportError)


def test_with_matplotlib_pyplot_draws_to_files() -> None:
    pytest.importorskip("matplotlib")

    pyplot = require_matplotlib("plotting")

    assert pyplot.__name__ == "matplotlib.pyplot"
    assert pyplot.get_backend().lower() == "agg"
