"""Crash points inside real worker processes: SIGKILL at a chosen line of a chosen task.

The fault tests start workers on :mod:`tests.fault.faulty_app`, which calls :func:`install`
before the pool forks. Each crash point wraps one function the task shells call, and asks
the *plan* (a JSON file named by ``CJ_FAULT_PLAN``, re-read at every point so that a test
can change it while the workers run) whether to strike here:

``{"point": "continuation.after_commit", "match": {"wave": 3}, "marker": "/tmp/x",
"action": "kill_worker"}``

- ``point``: ``<stage>.<where>``; the stage comes from the running task (``continuation``,
  ``finalize``, ``callback``, ``relay``, ``judge``), ``where`` is one of
  ``before_decision``, ``before_commit``, ``after_commit``, ``send``, ``after_send``,
  ``judge``;
- ``match``: values the context must have (``batch_id``, ``wave``, ``index`` of a send
  within the task, ``comparison_id``);
- ``marker``: a file claimed with ``O_EXCL``, so the fault strikes once across all
  processes (the time of the strike is written into it); without one it strikes every
  time (a poison message);
- ``action``: ``kill_worker`` SIGKILLs the worker's whole process group (main process and
  pool: nothing acknowledges or rejects anything), ``kill_process`` only the pool process
  running the task (Celery sees a lost worker process), ``drop`` ends the task without
  effect and acknowledges its message (a request lost in transit);
- ``record``: a file each strike appends a line to (to count a poison message's runs).

Nothing here runs in the test process; production modules know nothing of it.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from celery import current_task
from celery.exceptions import Ignore

PLAN_ENV = "CJ_FAULT_PLAN"

_STAGES = {
    "cj.continue_batch": "continuation",
    "cj.finalize_scoring": "finalize",
    "cj.finalize_failure": "finalize",
    "cj.record_comparison_result": "callback",
    "cj.relay_outbox": "relay",
    "cj.judge_comparison": "judge",
    "cj.sweep": "sweep",
}
_sends: dict[str, int] = {}
"""Sends so far per task id (for the ``send`` point's ``index``)."""


def _task_context() -> dict[str, Any]:
    task = current_task
    if task is None or not getattr(task, "name", None):
        return {"stage": "none"}
    context: dict[str, Any] = {"stage": _STAGES.get(task.name, task.name), "task": task.name}
    kwargs = getattr(task.request, "kwargs", None) or {}
    for key in ("batch_id", "wave"):
        if key in kwargs:
            context[key] = kwargs[key]
    context["task_id"] = task.request.id
    return context


def _plan() -> list[dict[str, Any]]:
    path = os.environ.get(PLAN_ENV)
    if not path or not Path(path).exists():
        return []
    try:
        loaded = json.loads(Path(path).read_text() or "[]")
    except ValueError:  # the test is rewriting it: no fault this time
        return []
    return loaded if isinstance(loaded, list) else []


def _claim(marker: str, point: str) -> bool:
    try:
        descriptor = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return False
    with os.fdopen(descriptor, "w") as file:
        json.dump({"point": point, "at": time.time(), "pid": os.getpid()}, file)
        file.flush()
        os.fsync(file.fileno())
    return True


def fire(where: str, **extra: Any) -> None:
    """Strike here if the plan says so (see the module text)."""
    context = {**_task_context(), **extra}
    point = f"{context['stage']}.{where}"
    debug = os.environ.get("CJ_FAULT_DEBUG")
    if debug:
        with open(debug, "a") as log:
            log.write(f"{os.getpid()} {point} {context}\n")
    for fault in _plan():
        if fault.get("point") != point:
            continue
        match = fault.get("match") or {}
        if any(str(context.get(key)) != str(value) for key, value in match.items()):
            continue
        marker = fault.get("marker")
        if marker is not None and not _claim(marker, point):
            continue
        record = fault.get("record")
        if record is not None:
            with open(record, "a") as strikes:
                strikes.write(f"{time.time()} {point} {os.getpid()}\n")
        action = fault.get("action", "kill_worker")
        if action == "drop":
            raise Ignore()  # acknowledged, never answered: lost in transit
        if action == "kill_process":
            os.kill(os.getpid(), signal.SIGKILL)
        else:
            os.killpg(os.getpgrp(), signal.SIGKILL)


def _before(where: str, function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        fire(where)
        return function(*args, **kwargs)

    return wrapped


def _after(where: str, function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        result = function(*args, **kwargs)
        fire(where)
        return result

    return wrapped


def _wrap(owner: Any, name: str, wrapper: Callable[[Any], Any]) -> None:
    setattr(owner, name, wrapper(getattr(owner, name)))


def install() -> None:
    """Wrap the functions the crash points stand at (call once, before the pool forks)."""
    from cj_worker.db import repositories
    from cj_worker.judges import simulated
    from cj_worker.tasks import base, continuation, finalize, unit_of_work

    _wrap(continuation, "step", functools.partial(_before, "before_decision"))
    _wrap(continuation, "run_continuation", functools.partial(_after, "before_commit"))
    _wrap(finalize, "finish", functools.partial(_after, "before_commit"))
    _wrap(repositories, "mark_sent", functools.partial(_before, "after_send"))
    _wrap(repositories, "mark_outbox_sent", functools.partial(_before, "after_send"))
    _wrap(unit_of_work, "apply_effects", _after_commit)
    _wrap(base.CeleryTransport, "send", _counted_send)
    _wrap(simulated, "judge", _poisoned)


def _after_commit(apply_effects: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(apply_effects)
    def wrapped(effects: Any, *args: Any, **kwargs: Any) -> None:
        triggers = [m for m in effects.messages if m.task == "cj.continue_batch"]
        extra = {"wave": triggers[0].kwargs["wave"]} if triggers else {}
        if triggers and "batch_id" not in _task_context():
            extra["batch_id"] = triggers[0].kwargs["batch_id"]
        fire("after_commit", **extra)
        apply_effects(effects, *args, **kwargs)

    return wrapped


def _counted_send(send: Callable[[Any, Any], None]) -> Callable[[Any, Any], None]:
    @functools.wraps(send)
    def wrapped(self: Any, message: Any) -> None:
        task_id = str(_task_context().get("task_id"))
        _sends[task_id] = _sends.get(task_id, 0) + 1
        send(self, message)
        fire("send", index=_sends[task_id])

    return wrapped


def _poisoned(judge: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(judge)
    def wrapped(spec: Any, comparison_id: Any, *args: Any, **kwargs: Any) -> Any:
        fire("judge", comparison_id=str(comparison_id))
        return judge(spec, comparison_id, *args, **kwargs)

    return wrapped
