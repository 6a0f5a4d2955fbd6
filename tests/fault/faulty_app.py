"""The Celery app of the fault tests' workers: cj-worker's own, with crash points installed.

Started as ``python -m celery -A tests.fault.faulty_app worker ...``; the crash points wrap
task-shell functions in the main process, so the forked pool processes inherit them.
"""

from __future__ import annotations

from cj_worker.celery_app import app
from tests.fault import crash_points

app.loader.import_default_modules()
crash_points.install()

__all__ = ["app"]
