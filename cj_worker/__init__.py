"""cj-worker: Comparative Judgement on Celery.

``cj_worker.score(...)`` scores decisions made elsewhere (:mod:`cj_worker.scoring`). It is
imported on first use, not with the package: the command line, the workers and the client
import ``cj_worker`` too, and should not pay for numpy, scipy and the read models first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cj_worker.scoring import score

__all__ = ["score"]


def __getattr__(name: str) -> Any:
    if name == "score":
        from cj_worker.scoring import score

        return score
    raise AttributeError(f"module 'cj_worker' has no attribute {name!r}")
