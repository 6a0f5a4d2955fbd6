"""Per-comparison result tokens: an answer must prove it came from the request it answers.

A comparison id says which comparison a result is for, but ids are not secret: they are
derived from the batch id (:func:`cj_worker.tasks.continuation.comparison_id`), logged, and
seen by every judge. Without more, anyone who can send ``cj.record_comparison_result``
could record an answer for any tenant's comparison. So every judge request carries
``token = HMAC-SHA256(secret, comparison id)`` and the callback stores a result only if it
echoes a token that verifies; forging one needs the secret, which never leaves the workers.

Secrets come from ``CJ_RESULT_TOKEN_SECRETS`` (comma-separated): the first signs, every one
verifies, so a secret is rotated by putting the new one first, waiting until no batch
started before the change is still running, then dropping the old one.

Why a worker refuses to start without one, instead of generating a default: the token is
signed by the worker that dispatches a wave and verified by whichever worker receives the
answer, possibly on another host, after a restart. A secret generated per process would
make every such answer fail; one derived from something every worker knows (the database
URL, a constant) would be guessable by exactly the strangers it must keep out. Processes
that sign and verify in themselves and never share a token (the embedded runner of
``cj-worker demo``, eager-mode tests) may run without the setting: they get a random secret
of their own, valid for the life of the process.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import sys
import uuid
from collections.abc import Sequence
from secrets import token_bytes
from typing import Any

from celery.signals import celeryd_init

from cj_worker.config import Settings, get_settings
from cj_worker.errors import EXIT_USER_ERROR, CJWorkerError

__all__ = [
    "SECRETS_VARIABLE",
    "MissingTokenSecretError",
    "require_secrets",
    "require_secrets_in_workers",
    "token_for",
    "verify",
]

SECRETS_VARIABLE = "CJ_RESULT_TOKEN_SECRETS"
_CONTEXT = b"cj-worker/result-token/v1:"
"""Prefixed to the message, so a secret reused elsewhere never signs the same bytes."""

log = logging.getLogger(__name__)

_process_secret: bytes | None = None


class MissingTokenSecretError(CJWorkerError, RuntimeError, exit_code=EXIT_USER_ERROR):
    """A worker was started without ``CJ_RESULT_TOKEN_SECRETS``."""


def configured_secrets(settings: Settings | None = None) -> list[bytes]:
    """The configured secrets, signing one first; empty when none is configured."""
    configured = (settings or get_settings()).result_token_secrets
    return [secret.get_secret_value().encode() for secret in configured]


def _secrets(keys: Sequence[bytes] | None) -> Sequence[bytes]:
    if keys:
        return keys
    configured = configured_secrets()
    if configured:
        return configured
    global _process_secret
    if _process_secret is None:
        _process_secret = token_bytes(32)
        log.info(  # not a warning: workers refuse to start without the setting
            "%s is not set: result tokens use a random secret of this process only",
            SECRETS_VARIABLE,
        )
    return [_process_secret]


def _sign(secret: bytes, comparison_id: uuid.UUID) -> str:
    return hmac.new(secret, _CONTEXT + comparison_id.bytes, hashlib.sha256).hexdigest()


def token_for(comparison_id: uuid.UUID, keys: Sequence[bytes] | None = None) -> str:
    """The token a judge must echo for ``comparison_id`` (signed with the first secret)."""
    return _sign(_secrets(keys)[0], comparison_id)


def verify(
    comparison_id: uuid.UUID, token: str | None, keys: Sequence[bytes] | None = None
) -> bool:
    """Whether ``token`` was signed for ``comparison_id`` by any accepted secret.

    Compared in constant time, so the answer's timing tells a forger nothing.
    """
    if not token:
        return False
    offered = token.encode("ascii", errors="replace")
    return any(
        hmac.compare_digest(offered, _sign(secret, comparison_id).encode())
        for secret in _secrets(keys)
    )


def require_secrets(settings: Settings | None = None) -> None:
    """Raise :class:`MissingTokenSecretError` unless a secret is configured."""
    if not configured_secrets(settings):
        raise MissingTokenSecretError(
            f"{SECRETS_VARIABLE} is not set: workers sign and verify the result tokens of"
            " judge answers with it and must all share it. Set it to one or more long random"
            " strings, comma-separated (e.g. `python -c 'import secrets;"
            " print(secrets.token_urlsafe(32))'`); the first signs, any verifies."
        )


def require_secrets_in_workers() -> None:
    """Make every worker started in this process refuse to start without a secret.

    Connected to ``celeryd_init``, which a worker sends before it consumes anything, in
    both ``cj-worker worker`` and ``celery -A cj_worker.celery_app worker``.
    """
    celeryd_init.connect(
        _refuse_to_start_without_a_secret, weak=False, dispatch_uid="cj_worker.tokens"
    )


def _refuse_to_start_without_a_secret(**_: Any) -> None:
    # Celery logs and swallows exceptions of signal handlers; SystemExit is not swallowed,
    # so the worker stops here with one line instead of failing every callback later.
    try:
        require_secrets()
    except MissingTokenSecretError as error:
        print(f"cj-worker: error: {error}", file=sys.stderr)
        raise SystemExit(error.exit_code) from None
