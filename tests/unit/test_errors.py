"""One root error: every error the package defines is a CJWorkerError with its exit code."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import cj_worker
from cj_worker import errors
from cj_worker.broker import DetachedChannelError
from cj_worker.budget import BudgetError
from cj_worker.cli.batches import BatchFailedError
from cj_worker.cli.parsing import UsageError
from cj_worker.client import UnknownBatchError
from cj_worker.core.bt import BTInputError
from cj_worker.core.coverage import CoverageRegressionError
from cj_worker.core.errors import CJWorkerError
from cj_worker.core.grade_scales import GradeScaleError
from cj_worker.core.history import HistoryError
from cj_worker.core.plotting import PlottingUnavailableError
from cj_worker.core.wave import WaveStepError
from cj_worker.db.migrate import MigrationsNotFoundError
from cj_worker.db.repositories.conflicts import UnsupportedDatabaseError
from cj_worker.decisions_file import DecisionFileError
from cj_worker.embedded import EmbeddedRunError
from cj_worker.essay_files import EssayFileError
from cj_worker.harness.runner import HarnessError
from cj_worker.judges.llm.http import (
    AuthFailedError,
    JudgeHttpError,
    MalformedResponseError,
    RequestRejectedError,
    RetriesExhaustedError,
    TransientError,
)
from cj_worker.judges.llm.limits import NoPermitError
from cj_worker.payloads import PayloadError
from cj_worker.scoring import ScoringInputError
from cj_worker.tasks.callbacks import ResultRefusedError, UnknownComparisonError
from cj_worker.tasks.chunks import ChunkRefusedError
from cj_worker.tasks.intake import BatchConflictError
from cj_worker.tokens import MissingTokenSecretError

DOCUMENTED: dict[type[CJWorkerError], tuple[type[Exception], int]] = {
    # error: (the builtin base it keeps, its exit code)
    UsageError: (ValueError, 2),
    EssayFileError: (ValueError, 2),
    PayloadError: (ValueError, 2),
    GradeScaleError: (ValueError, 2),
    UnknownBatchError: (LookupError, 2),
    UnknownComparisonError: (LookupError, 2),
    EmbeddedRunError: (RuntimeError, 2),
    MigrationsNotFoundError: (RuntimeError, 2),
    UnsupportedDatabaseError: (RuntimeError, 2),
    PlottingUnavailableError: (RuntimeError, 2),
    BudgetError: (ValueError, 2),
    DecisionFileError: (ValueError, 2),
    ScoringInputError: (ValueError, 2),
    ResultRefusedError: (PermissionError, 2),
    BatchConflictError: (ValueError, 2),
    ChunkRefusedError: (ValueError, 2),
    MissingTokenSecretError: (RuntimeError, 2),
    errors.ServiceUnreachableError: (ConnectionError, 3),
    BatchFailedError: (RuntimeError, 1),
    HistoryError: (ValueError, 1),
    BTInputError: (ValueError, 1),
    HarnessError: (RuntimeError, 1),
    CoverageRegressionError: (RuntimeError, 1),
    WaveStepError: (RuntimeError, 1),
    # The LLM judge's: met by workers, never by the command line.
    JudgeHttpError: (Exception, 1),
    AuthFailedError: (Exception, 1),
    RequestRejectedError: (Exception, 1),
    RetriesExhaustedError: (Exception, 1),
    MalformedResponseError: (Exception, 1),
    TransientError: (Exception, 1),
    NoPermitError: (Exception, 1),
    # Raised inside kombu's Redis transport so that Celery reconnects: never a user's.
    DetachedChannelError: (Exception, 1),
}


@pytest.mark.parametrize("error", DOCUMENTED, ids=lambda error: error.__name__)
def test_an_error_is_a_cj_worker_error_with_its_builtin_base_and_exit_code(
    error: type[CJWorkerError],
) -> None:
    builtin, exit_code = DOCUMENTED[error]
    assert issubclass(error, CJWorkerError)
    assert issubclass(error, builtin), "an existing `except` of the builtin still catches it"
    assert error.exit_code == exit_code


def test_the_codes_are_the_documented_ones() -> None:
    assert (errors.EXIT_FAILURE, errors.EXIT_USER_ERROR, errors.EXIT_UNREACHABLE) == (1, 2, 3)
    assert CJWorkerError.exit_code == errors.EXIT_FAILURE
    assert errors.CJWorkerError is CJWorkerError, "one root, re-exported for the shells"


def _modules() -> list[str]:
    names = []
    for module in pkgutil.walk_packages(cj_worker.__path__, "cj_worker."):
        if not module.name.endswith(".__main__"):  # running it is what importing does
            names.append(module.name)
    return names


def test_every_error_the_package_defines_has_the_one_root() -> None:
    """A new error class must join the hierarchy (and this table) to be merged."""
    defined: set[type[BaseException]] = set()
    for name in _modules():
        module = importlib.import_module(name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BaseException) and value.__module__ == name:
                defined.add(value)

    strays = sorted(e.__qualname__ for e in defined if not issubclass(e, CJWorkerError))
    assert strays == [], f"errors outside the hierarchy: {strays}"
    assert defined - {CJWorkerError} == set(DOCUMENTED), "every error has a documented code"


def test_a_subclass_inherits_its_parents_code_unless_it_states_its_own() -> None:
    class MoreSpecificError(UsageError):
        pass

    class UnreachableError(UsageError, exit_code=3):
        pass

    assert (MoreSpecificError.exit_code, UnreachableError.exit_code) == (2, 3)
    assert UsageError.exit_code == 2, "a subclass's code leaves its parent's alone"


def test_an_exit_code_of_zero_is_refused() -> None:
    """Exit 0 means success: an error that exits 0 would hide a failure from scripts."""
    with pytest.raises(ValueError, match="exit_code must be 1 or more"):

        class SucceedsError(CJWorkerError, exit_code=0):
            pass


def test_one_plotting_error_for_both_plots() -> None:
    from cj_worker.harness import plot as harness_plot
    from cj_worker.report import plot as result_plot

    assert result_plot.PlottingUnavailableError is PlottingUnavailableError
    assert harness_plot.PlottingUnavailableError is PlottingUnavailableError
