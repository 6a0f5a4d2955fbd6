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
  within the task, ``comparison_id``: one of the comparisons of the judge's message);
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
    strikes = []
    for fault in _plan():
        if fault.get("point") != point:
            continue
        match = fault.get("match") or {}
        if not all(_matches(context.get(key), value) for key, value in match.items()):
            continue
        marker = fault.get("marker")
        if marker is not None and not _claim(marker, point):
            continue
        strikes.append(fault)
        if not any(isinstance(value, list) for value in extra.values()):
            break
    # A message carrying several comparisons (a simulated judge's bundle) is one message:
    # every fault aimed at one of them strikes now, once, as the loss of the message.
    for fault in strikes:
        record = fault.get("record")
        if record is not None:
            with open(record, "a") as log:
                log.write(f"{time.time()} {point} {os.getpid()}\n")
    if strikes:
        action = strikes[0].get("action", "kill_worker")
        if action == "drop":
            raise Ignore()  # acknowledged, never answered: lost in transit
        if action == "kill_process":
            os.kill(os.getpid(), signal.SIGKILL)
        else:
            os.killpg(os.getpgrp(), signal.SIGKILL)


def _matches(found: Any, wanted: Any) -> bool:
    """A context value matches, or a list of them (a bundle's comparisons) contains it."""
    if isinstance(found, list):
        return str(wanted) in {str(item) for item in found}
    return str(found) == str(wanted)


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
    from cj_worker.tasks import base, continuation, finalize, judging, unit_of_work

    _wrap(continuation, "step", functools.partial(_before, "before_decision"))
    _wrap(continuation, "run_continuation", functools.partial(_after, "before_commit"))
    _wrap(finalize, "finish", functools.partial(_after, "before_commit"))
    _wrap(repositories, "mark_sent", functools.partial(_before, "after_send"))
    _wrap(repositories, "mark_outbox_sent", functools.partial(_before, "after_send"))
    _wrap(unit_of_work, "apply_effects", _after_commit)
    _wrap(base.CeleryTransport, "send", _counted_send)
    _wrap(base.CeleryTransport, "publish", _counted_publish)
    _wrap(judging, "answer_tickets", _poisoned)


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
        send(self, message)
        _sent()

    return wrapped


def _counted_publish(publish: Callable[[Any, Any, Any], None]) -> Callable[[Any, Any, Any], None]:
    @functools.wraps(publish)
    def wrapped(self: Any, message: Any, producer: Any) -> None:
        publish(self, message, producer)
        _sent()

    return wrapped


def _sent() -> None:
    """A message left the task: the ``send`` point, with its index within the task."""
    task_id = str(_task_context().get("task_id"))
    _sends[task_id] = _sends.get(task_id, 0) + 1
    fire("send", index=_sends[task_id])


def _poisoned(answer: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(answer)
    def wrapped(spec: Any, tickets: list[Any], *args: Any, **kwargs: Any) -> Any:
        fire("judge", comparison_id=[str(ticket.comparison_id) for ticket in tickets])
        return answer(spec, tickets, *args, **kwargs)

    return wrapped
