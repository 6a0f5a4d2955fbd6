"""The Celery app of the fault tests' workers: cj-worker's own, with crash points installed.

Started as ``python -m celery -A tests.fault.faulty_app worker ...``; the crash points wrap
task-shell functions in the main process, so the forked pool processes inherit them.
"""

from __future__ import annotations

from cj_worker.celery_app import app
from cj_worker.tasks import judging
from tests.fault import crash_points

app.loader.import_default_modules()
crash_points.install()
# The scenarios' waves have about five comparisons: bundles of two make a wave several
# messages, so that a kill can fall between two of them ("continuation.send").
judging.TICKETS_PER_MESSAGE = 2

__all__ = ["app"]
