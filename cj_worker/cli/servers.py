"""The servers' side: ``migrate``, ``worker``, ``beat`` and ``flower``.

Each starts (or prepares for) a long-running program with this package's configuration;
options the command does not know go to Celery or Flower unchanged.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from cj_worker.config import get_settings

METRICS_DIRECTORY_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def migrate(_: argparse.Namespace, __: list[str]) -> int:
    from cj_worker.db.migrate import upgrade

    url = get_settings().database_url
    upgrade(url)
    print(f"database at head: {redacted(url)}")
    return 0


def worker(args: argparse.Namespace, extra: list[str]) -> int:
    from cj_worker import task_names
    from cj_worker.celery_app import app

    queues = args.queues or ",".join(task_names.QUEUES)
    with metrics_directory():
        app.worker_main(["worker", "--queues", queues, "--loglevel", args.loglevel, *extra])
    return 0


def beat(args: argparse.Namespace, extra: list[str]) -> int:
    from cj_worker.celery_app import app

    app.start(["beat", "--loglevel", args.loglevel, *extra])
    return 0


FLOWER_DEFAULT_ADDRESS = "127.0.0.1"
FLOWER_AUTH_OPTIONS = ("basic_auth", "auth")
"""Flower options (and ``FLOWER_<NAME>`` variables) that make it ask for credentials."""


def flower(args: argparse.Namespace, extra: list[str]) -> int:
    """Flower on this host only, unless it asks for credentials.

    Flower shows every task's arguments to whoever opens it, and without ``--basic_auth``
    (or ``--auth``) only its ``/api`` asks for credentials. So it listens on 127.0.0.1
    unless told otherwise, and refuses another address without authentication.
    """
    from cj_worker.celery_app import app
    from cj_worker.cli.parsing import UsageError

    # Flower's own options are tornado options: only the --name=value form is understood.
    address = _flower_option(extra, "address")
    if address is None:
        address = os.environ.get("FLOWER_ADDRESS") or FLOWER_DEFAULT_ADDRESS
        extra = [f"--address={address}", *extra]
    authenticated = any(
        _flower_option(extra, name) or os.environ.get(f"FLOWER_{name.upper()}")
        for name in FLOWER_AUTH_OPTIONS
    )
    if not authenticated and not _loopback(address):
        raise UsageError(
            f"flower would serve every task's arguments on {address or 'every address'}"
            " without a login: give --basic_auth=user:password (or FLOWER_BASIC_AUTH), or"
            f" keep the default --address={FLOWER_DEFAULT_ADDRESS}"
        )
    app.start(["flower", f"--port={args.port}", *extra])
    return 0


def _flower_option(extra: list[str], name: str) -> str | None:
    """The value of ``--name=value`` among Flower's options, if given."""
    values = [arg.split("=", 1)[1] for arg in extra if arg.startswith(f"--{name}=")]
    return values[-1] if values else None


def _loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:  # a host name, or "" (every address)
        return False


@contextmanager
def metrics_directory() -> Iterator[None]:
    """Give this worker a fresh PROMETHEUS_MULTIPROC_DIR of its own, removed on exit.

    Pool processes write their metrics there (see ``cj_worker.metrics``). prometheus-client
    picks its mode when first imported, which starting the worker does, so the variable
    is set before; it must be an environment variable, because the pool processes and
    prometheus-client read it there. A directory set by the operator is used as it is.
    """
    variable = METRICS_DIRECTORY_VARIABLE
    # Once prometheus_client is imported its mode is fixed: setting the variable then would
    # make the worker serve an empty directory, so leave it unset and the worker says why
    # it serves no metrics.
    if (
        not get_settings().metrics_port
        or os.environ.get(variable)
        or "prometheus_client" in sys.modules
    ):
        yield
        return
    directory = tempfile.mkdtemp(prefix="cj-worker-metrics-")
    os.environ[variable] = directory
    try:
        yield
    finally:
        del os.environ[variable]
        shutil.rmtree(directory, ignore_errors=True)


def redacted(url: str) -> str:
    """``url`` with its password masked, fit to print."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
