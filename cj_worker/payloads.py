"""The message contracts: what producers send, what judges receive and answer.

Every task takes one of these as a plain JSON dict and validates it first, so a bad message
is rejected with an error naming the field and changes nothing. Producers can build them
through :mod:`cj_worker.client` or send the JSON by hand with ``send_task``.

Validation is strict about JSON types (:func:`parse`): ``"40"`` is not a budget and
``"true"`` is not a flag, because a producer that sends strings where numbers belong has a
bug that lax coercion would hide until it sent ``"forty"``. The limits producers meet
(essays per batch, characters per essay, id lengths, essays and characters per chunk) are
module constants, listed in the README's limits table.

A large batch need not travel as one message: a :class:`BatchRequest` may declare
``essay_count`` and the digest of the whole essay list (:func:`essays_sha256`) and carry the
first essays only; :class:`EssayChunk` messages (``cj.add_essays``) bring the rest.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Sequence
from typing import Annotated, Any, Literal, Self, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from cj_worker import task_names
from cj_worker.core.grade_scales import (
    BUILT_IN_SCALES,
    DEFAULT_GRADE_SCALE,
    GradeScale,
    built_in_scale,
)
from cj_worker.core.settings import AlgorithmSettings, PairingPolicy
from cj_worker.errors import EXIT_USER_ERROR, CJWorkerError
from cj_worker.llm_spec import LlmJudge

__all__ = [
    "FATAL_JUDGE_ERROR_CODES",
    "MAX_CHUNK_TEXT_CHARS",
    "MAX_ESSAYS_PER_BATCH",
    "MAX_ESSAYS_PER_CHUNK",
    "MAX_ESSAY_CHARS",
    "MAX_ID_LENGTH",
    "BatchRequest",
    "ComparisonRequest",
    "ComparisonResult",
    "EssayChunk",
    "EssayIn",
    "ExternalJudge",
    "GradeScaleIn",
    "JudgeTicket",
    "JudgeUsage",
    "LlmJudge",
    "PayloadError",
    "SimulatedJudge",
    "TicketBundle",
    "check_essays",
    "essays_sha256",
    "parse",
]

MAX_ESSAYS_PER_BATCH = 20_000
"""Largest net accepted: beyond it one wave's bookkeeping would outgrow a task time limit."""
MAX_ESSAY_CHARS = 100_000
"""Longest essay text accepted, in characters (about 15,000 words), from a file or the
broker alike. Every judge request carries two texts, so one unbounded essay would be
copied into every comparison it takes part in (and, for an LLM judge, paid for)."""
MAX_ID_LENGTH = 255
"""Longest essay id, batch ``external_ref``, tenant and task or queue name."""
MAX_ESSAYS_PER_CHUNK = 2_000
"""Most essays in one message of a chunked intake (the first chunk, in ``cj.create_batch``
with ``essay_count``, or one ``cj.add_essays``): one chunk is one short transaction."""
MAX_CHUNK_TEXT_CHARS = 2_000_000
"""Most characters of essay text in one message of a chunked intake (about 2 to 12 MB of
JSON): the point of chunks is that no message is giant. One essay of the largest size
(:data:`MAX_ESSAY_CHARS`) always fits. A request sent whole, without ``essay_count``,
keeps the limits it always had."""
SHA256_HEX = r"^[0-9a-f]{64}$"
RESERVED_TASK_PREFIX = "cj."
"""Task names of this package. A producer's judge or result task named ``cj.*`` would be
delivered to a cj worker, which would run its own task with a foreign payload (or, for a
name it does not know, discard it); so such names are refused at intake."""


class PayloadError(CJWorkerError, ValueError, exit_code=EXIT_USER_ERROR):
    """A message failed validation; ``str()`` names every bad field.

    ``problems`` lists them one by one (``"field: what is wrong"``) for the ``errors`` of a
    ``batch.rejected`` event.
    """

    def __init__(self, model: str, error: ValidationError | str) -> None:
        if isinstance(error, ValidationError):
            self.problems = [
                f"{'.'.join(str(part) for part in item['loc']) or '(payload)'}: {item['msg']}"
                for item in error.errors()
            ]
        else:
            self.problems = [error]
        super().__init__(f"invalid {model}: {'; '.join(self.problems)}")


class _Message(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, str_strip_whitespace=True, allow_inf_nan=False
    )


def _not_reserved(field: str, task: str | None) -> None:
    if task is not None and task.startswith(RESERVED_TASK_PREFIX):
        raise ValueError(
            f"{field}: {task!r} is a name of cj-worker's own tasks ({RESERVED_TASK_PREFIX}*);"
            " name a task of the producer's"
        )


class EssayIn(_Message):
    id: Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH)]
    text: Annotated[str, Field(min_length=1, max_length=MAX_ESSAY_CHARS)]
    """Required and not blank: a judge cannot compare an essay it cannot read."""
    is_anchor: bool = False
    grade: Annotated[str | None, Field(max_length=32)] = None
    """Known grade of an anchor."""
    true_score: float | None = None
    """Ground truth (logits) for the simulated judge; ignored by real judges."""

    @model_validator(mode="after")
    def _anchor_needs_grade(self) -> Self:
        if self.is_anchor and not self.grade:
            raise ValueError(f"anchor essay {self.id!r} needs a grade")
        return self


class SimulatedJudge(_Message):
    """The built-in judge: BT with true scores, noise, position bias and errors (seeded)."""

    kind: Literal["simulated"] = "simulated"
    discrimination: Annotated[float, Field(ge=0.0, le=100.0)] = 1.0
    """Multiplies the true score difference; below 1 is a noisier judge."""
    position_bias: Annotated[float, Field(ge=-10.0, le=10.0)] = 0.0
    """Logit added in favour of the essay in slot A."""
    error_rate: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    """Probability that a comparison fails instead of being answered."""
    seed: Annotated[int, Field(ge=0)] = 0


class ExternalJudge(_Message):
    """A producer's Celery task receives each :class:`ComparisonRequest` and calls back."""

    kind: Literal["external"] = "external"
    task: Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH)]
    queue: Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH)] = (
        task_names.EXTERNAL_JUDGE_QUEUE
    )
    """Must be a queue the judge's workers consume and cj workers do not."""

    @model_validator(mode="after")
    def _not_a_cj_queue(self) -> Self:
        _not_reserved("task", self.task)
        if self.queue in task_names.QUEUES:
            raise ValueError(
                f"queue: {self.queue!r} is consumed by cj workers, which would discard "
                f"{self.task!r}; use the judge's own queue"
            )
        return self


JudgeSpec = Annotated[SimulatedJudge | ExternalJudge | LlmJudge, Field(discriminator="kind")]


class GradeScaleIn(_Message):
    """A producer's own grade scale: labels from lowest to highest, optional prior shares."""

    name: Annotated[str, Field(min_length=1, max_length=64)] = "custom"
    grades: Annotated[list[str], Field(min_length=2, max_length=64)]
    priors: list[float] | None = None
    """Expected share of each grade (any positive numbers; normalised)."""

    @model_validator(mode="after")
    def _valid(self) -> Self:
        if self.name in BUILT_IN_SCALES:
            raise ValueError(
                f"name: {self.name!r} is a built-in scale; give your own scale another name"
            )
        self.scale()  # GradeScaleError is a ValueError: pydantic reports it on this field
        return self

    def scale(self) -> GradeScale:
        return GradeScale(
            self.name, tuple(self.grades), None if self.priors is None else tuple(self.priors)
        )


def _scale_kind(value: Any) -> str:
    """A string names a built-in scale; anything else must be a scale definition."""
    return "name" if isinstance(value, str) else "definition"


class BatchRequest(_Message):
    """Payload of ``cj.create_batch``."""

    batch_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    """Chosen by the producer to make a resubmission idempotent."""
    external_ref: Annotated[str | None, Field(max_length=MAX_ID_LENGTH)] = None
    tenant: Annotated[str | None, Field(min_length=1, max_length=MAX_ID_LENGTH)] = None
    """Whose batch this is: reads that name a tenant see only that tenant's batches."""
    essays: Annotated[list[EssayIn], Field(min_length=1, max_length=MAX_ESSAYS_PER_BATCH)]
    """Every essay; or, with ``essay_count``, the first ones (positions 0 to len - 1)."""
    essay_count: Annotated[int | None, Field(ge=1, le=MAX_ESSAYS_PER_BATCH)] = None
    """Essays of the whole batch, when the rest arrive as ``cj.add_essays`` chunks. The
    batch waits in ``created`` until all of them arrived; none means ``essays`` is all."""
    essays_sha256: Annotated[str | None, Field(pattern=SHA256_HEX)] = None
    """:func:`essays_sha256` of the whole essay list (required with ``essay_count``): the
    completed batch is judged only if its stored essays have this digest."""
    budget: Annotated[int | None, Field(ge=1, le=100_000_000)] = None
    """Most comparisons to spend; defaults to ``max_pairwise_comparisons``."""
    settings: dict[str, Any] = Field(default_factory=dict)
    """Per-batch overrides of the algorithmic settings (names as in the README)."""
    judge: JudgeSpec = Field(default_factory=SimulatedJudge)
    result_task: Annotated[str | None, Field(min_length=1, max_length=MAX_ID_LENGTH)] = None
    """Celery task that receives the result event when the batch ends."""
    result_queue: Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH)] = (
        task_names.RESULTS_QUEUE
    )
    """Queue of the result event: one the producer's workers consume, not a cj queue."""
    assignment: Annotated[str | None, Field(max_length=50_000)] = None
    """The task the essays answer; shown to an LLM judge before the essays."""
    rubric: Annotated[str | None, Field(max_length=50_000)] = None
    """How to judge the essays; shown to an LLM judge before the essays."""
    grade_scale: Annotated[
        Annotated[Annotated[str, Field(min_length=1, max_length=64)], Tag("name")]
        | Annotated[GradeScaleIn, Tag("definition")],
        Discriminator(_scale_kind),
    ] = DEFAULT_GRADE_SCALE
    """A built-in scale's name or a scale of the producer's; anchors' grades must be in it."""

    @model_validator(mode="before")
    @classmethod
    def _prompt_context_to_llm_judge(cls, data: Any) -> Any:
        """Copy ``assignment`` and ``rubric`` into an LLM judge's spec.

        The spec is stored with the batch and read by the judge with the two texts, so the
        prompt is built from one record. A spec that already has different text is an
        error, not a pick.
        """
        if not isinstance(data, dict):
            return data
        judge = data.get("judge")
        if isinstance(judge, LlmJudge):
            judge = judge.model_dump()
        if not isinstance(judge, dict) or judge.get("kind") != "llm":
            return data
        judge = dict(judge)
        for field in ("assignment", "rubric"):
            value = data.get(field)
            if value is None:
                continue
            if judge.get(field) not in (None, value):
                raise ValueError(f"judge.{field}: differs from the request's {field}")
            judge[field] = value
        return {**data, "judge": judge}

    @field_validator("grade_scale")
    @classmethod
    def _known_scale(cls, value: str | GradeScaleIn) -> str | GradeScaleIn:
        if isinstance(value, str):
            built_in_scale(value)  # raises naming the built-in scales
        return value

    def scale(self) -> GradeScale:
        """The resolved grade scale of this batch."""
        if isinstance(self.grade_scale, GradeScaleIn):
            return self.grade_scale.scale()
        return built_in_scale(self.grade_scale)

    def fingerprint(self) -> str:
        """SHA-256 of the request in a canonical form: what makes a resubmission "the same".

        Fields left at their defaults are omitted, so an explicit default and an omitted
        field are the same request, and a field a later version adds does not make a retry
        of an older producer's request a conflict. The tenant is always part of it.
        """
        content = self.model_dump(mode="json", exclude_defaults=True)
        content |= {"batch_id": str(self.batch_id), "tenant": self.tenant}
        canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()

    @model_validator(mode="after")
    def _check(self) -> Self:
        _not_reserved("result_task", self.result_task)
        if self.result_queue in task_names.QUEUES:
            raise ValueError(
                f"result_queue: {self.result_queue!r} is consumed by cj workers, which would "
                "discard the result event; use a queue of the producer's"
            )
        _unique_ids(self.essays)
        requested = AlgorithmSettings().override(self.settings)  # raises naming the bad setting
        named = {key.lower() for key in self.settings}
        if named & {"pairing_policy", "hybrid_random_share"}:
            if "pairing_policy" not in named:
                # A share alone meets the worker's default policy, which may be hybrid.
                requested = requested.model_copy(update={"pairing_policy": PairingPolicy.HYBRID})
            refused = requested.unoffered_pairing()
            if refused is not None:
                raise ValueError(f"settings.{refused[0]}: {refused[1]}")
        scale = self.scale()
        check_essays(
            self.essays,
            grades=scale.grades,
            scale_name=scale.name,
            simulated=isinstance(self.judge, SimulatedJudge),
        )
        self._check_chunking()
        return self

    @property
    def chunked(self) -> bool:
        """Whether more essays follow in ``cj.add_essays`` chunks."""
        return self.essay_count is not None and self.essay_count > len(self.essays)

    def _check_chunking(self) -> None:
        if self.essay_count is not None:
            if self.essay_count < len(self.essays):
                raise ValueError(
                    f"essay_count: {self.essay_count} declared, but the request holds "
                    f"{len(self.essays)} essays"
                )
            if self.essays_sha256 is None:
                raise ValueError(
                    "essays_sha256: required with essay_count: the SHA-256 of the whole essay"
                    " list (cj_worker.payloads.essays_sha256)"
                )
        if self.chunked:
            _within_chunk_limits(self.essays)
        elif self.essays_sha256 is not None and self.essays_sha256 != essays_sha256(self.essays):
            raise ValueError(
                "essays_sha256: does not match the essays of the request (computed "
                f"{essays_sha256(self.essays)})"
            )


class EssayChunk(_Message):
    """Payload of ``cj.add_essays``: more essays of a batch created with ``essay_count``.

    ``essays[i]`` is the essay at position ``offset + i``. Chunks may arrive in any order;
    a redelivered chunk (the same essays at the same offset) changes nothing.
    """

    batch_id: uuid.UUID
    tenant: Annotated[str | None, Field(min_length=1, max_length=MAX_ID_LENGTH)] = None
    """The batch's tenant, exactly as its ``cj.create_batch`` named it."""
    offset: Annotated[int, Field(ge=1, lt=MAX_ESSAYS_PER_BATCH)]
    """Position of the first essay; the create's essays hold positions 0 to len - 1."""
    essays: Annotated[list[EssayIn], Field(min_length=1, max_length=MAX_ESSAYS_PER_CHUNK)]

    @model_validator(mode="after")
    def _check(self) -> Self:
        _unique_ids(self.essays)
        _within_chunk_limits(self.essays)
        return self


def _unique_ids(essays: Sequence[EssayIn]) -> None:
    seen: set[str] = set()
    for essay in essays:
        if essay.id in seen:
            raise ValueError(f"essays: duplicate essay id {essay.id!r}")
        seen.add(essay.id)


def _within_chunk_limits(essays: Sequence[EssayIn]) -> None:
    if len(essays) > MAX_ESSAYS_PER_CHUNK:
        raise ValueError(
            f"essays: {len(essays)} essays in one chunk; a chunk holds at most "
            f"{MAX_ESSAYS_PER_CHUNK} (send the rest as cj.add_essays)"
        )
    chars = sum(len(essay.text) for essay in essays)
    if chars > MAX_CHUNK_TEXT_CHARS:
        raise ValueError(
            f"essays: {chars} characters of text in one chunk; a chunk holds at most "
            f"{MAX_CHUNK_TEXT_CHARS} (split it)"
        )


def check_essays(
    essays: Sequence[EssayIn],
    *,
    grades: Sequence[str],
    scale_name: str,
    simulated: bool,
    what: str = "essays",
) -> None:
    """Raise ``ValueError`` naming the field if the essays do not fit their batch.

    Anchors' grades must be in the batch's grade scale, and the simulated judge needs every
    essay's ``true_score``. Intake checks a request's essays here, and every chunk's against
    the batch it joins, so a chunk is held to exactly the rules of the request.
    """
    for position, essay in enumerate(essays):
        if essay.is_anchor and essay.grade not in grades:
            raise ValueError(
                f"{what}.{position}.grade: anchor {essay.id!r} has grade {essay.grade!r}, "
                f"which is not in grade scale {scale_name!r} ({', '.join(grades)})"
            )
    if simulated:
        missing = [e.id for e in essays if e.true_score is None]
        if missing:
            raise ValueError(
                f"{what}: the simulated judge needs true_score for every essay "
                f"(missing for {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''})"
            )


EssayFields = tuple[str, str, bool, str | None, float | None]
"""An essay as the digest reads it: id, text, is_anchor, grade, true_score."""


def essays_sha256(essays: Iterable[EssayIn | EssayFields]) -> str:
    """SHA-256 (hex) of the canonical form of an essay list, in position order.

    The canonical form is the UTF-8 bytes of a JSON array with one array per essay,
    ``[id, text, is_anchor, grade, true_score]`` (``grade`` and ``true_score`` null when
    absent), written without spaces (``separators=(",", ":")``), with non-ASCII characters
    as themselves (``ensure_ascii=False``) and numbers as Python writes a float (``1.0``,
    ``-0.5``). Ids and texts are taken as validated, i.e. trimmed of surrounding
    whitespace. The producer's client and the worker (over the stored essays) both compute
    it here, so a batch is judged only on the very essays its producer meant.
    """
    digest = hashlib.sha256(b"[")
    for index, essay in enumerate(essays):
        fields = (
            (essay.id, essay.text, essay.is_anchor, essay.grade, essay.true_score)
            if isinstance(essay, EssayIn)
            else essay
        )
        item = [
            fields[0],
            fields[1],
            bool(fields[2]),
            fields[3],
            None if fields[4] is None else float(fields[4]),
        ]
        encoded = json.dumps(item, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        digest.update((b"," if index else b"") + encoded.encode("utf-8", "surrogatepass"))
    digest.update(b"]")
    return digest.hexdigest()


class EssayView(_Message):
    """What a judge sees of an essay: text only, never its id or anchor status."""

    text: str


class ComparisonRequest(_Message):
    """What a judge task receives; it must answer with a :class:`ComparisonResult`."""

    comparison_id: uuid.UUID
    batch_id: uuid.UUID
    token: Annotated[str | None, Field(max_length=128)] = None
    """The comparison's result token (:mod:`cj_worker.tokens`): the answer must echo it."""
    essay_a: EssayView
    essay_b: EssayView
    callback_task: str = task_names.RECORD_COMPARISON_RESULT
    callback_queue: str = task_names.CALLBACKS_QUEUE

    @classmethod
    def json_of(
        cls,
        comparison_id: uuid.UUID,
        batch_id: uuid.UUID,
        token: str,
        text_a: str,
        text_b: str,
    ) -> dict[str, Any]:
        """The request's JSON (``model_dump(mode="json")``), built without validating.

        For a wave of thousands of requests from values the engine made itself (its ids,
        its token, texts validated at intake); validating them again cost a third of a
        20,000-essay continuation. ``tests/unit/test_payloads.py`` checks that it is the
        model's JSON.
        """
        return {
            "comparison_id": str(comparison_id),
            "batch_id": str(batch_id),
            "token": token,
            "essay_a": {"text": text_a},
            "essay_b": {"text": text_b},
            "callback_task": task_names.RECORD_COMPARISON_RESULT,
            "callback_queue": task_names.CALLBACKS_QUEUE,
        }


class JudgeTicket(_Message):
    """What a built-in judge task receives: ids and the token, never the essays.

    The simulated judge needs only the two true scores; the LLM judge loads the texts and
    its spec from the database itself. A pending request then costs a few hundred bytes
    of broker memory instead of two essays, and monitoring has nothing to hide.
    """

    comparison_id: uuid.UUID
    batch_id: uuid.UUID
    token: Annotated[str | None, Field(max_length=128)] = None
    """The comparison's result token, echoed in the answer."""
    simulation: tuple[float, float] | None = None
    """True scores of A and B, for the simulated judge only."""


MAX_TICKETS_PER_MESSAGE = 100
"""Most tickets one message to the simulated judge may carry (it sends 16)."""


class TicketBundle(_Message):
    """The simulated judge's message: several tickets, refused whole if one is malformed
    (the engine never sends a bad one; a forged bundle changes nothing)."""

    tickets: Annotated[list[JudgeTicket], Field(min_length=1, max_length=MAX_TICKETS_PER_MESSAGE)]


class JudgeUsage(_Message):
    """What one comparison cost: tokens, time and HTTP attempts (LLM judges)."""

    model: Annotated[str | None, Field(max_length=200)] = None
    prompt_tokens: Annotated[int | None, Field(ge=0)] = None
    """As the endpoint reported them; none if it reported none."""
    completion_tokens: Annotated[int | None, Field(ge=0)] = None
    latency_seconds: Annotated[float, Field(ge=0.0)] = 0.0
    """Round trip of the request that was answered (the last attempt)."""
    elapsed_seconds: Annotated[float, Field(ge=0.0)] = 0.0
    """The whole judgement: every attempt, back-off and wait for a rate or concurrency
    permit."""
    attempts: Annotated[int, Field(ge=0)] = 1
    """HTTP requests sent (retries are ``attempts - 1``; 0 when none was sent)."""
    cost: Annotated[float | None, Field(ge=0.0)] = None
    """Estimated from the batch's price table; none without a price for the model."""


FATAL_JUDGE_ERROR_CODES = frozenset(
    {"judge_auth_failed", "judge_api_key_missing", "judge_api_key_not_allowed"}
)
"""Error codes after which no comparison of the batch can succeed (a bad or missing key):
one such failed result is reason enough to fail the batch at once."""


class ComparisonResult(_Message):
    """Payload of ``cj.record_comparison_result``: one judged (or failed) comparison."""

    comparison_id: uuid.UUID
    token: Annotated[str | None, Field(max_length=128)] = None
    """The request's ``token``, echoed: without the one issued for this comparison the
    answer changes nothing."""
    batch_id: uuid.UUID | None = None
    """Optional: the request's ``batch_id``; an answer naming another batch is refused."""
    status: Literal["succeeded", "failed"]
    winner: Literal["A", "B"] | None = None
    judge_id: Annotated[str | None, Field(max_length=255)] = None
    confidence: Annotated[float | None, Field(ge=0.0, le=1.0)] = None
    justification: Annotated[str | None, Field(max_length=20_000)] = None
    error_code: Annotated[str | None, Field(max_length=64)] = None
    error_detail: Annotated[str | None, Field(max_length=20_000)] = None
    usage: JudgeUsage | None = None
    """Tokens, latency and attempts of an LLM judge's answer, failed ones included."""

    @model_validator(mode="after")
    def _winner_iff_succeeded(self) -> Self:
        if self.status == "succeeded" and self.winner is None:
            raise ValueError("winner: a succeeded comparison needs winner 'A' or 'B'")
        if self.status == "failed" and self.winner is not None:
            raise ValueError("winner: a failed comparison cannot have a winner")
        return self


M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], payload: Any) -> M:
    """Validate ``payload`` as ``model`` or raise :class:`PayloadError` naming the fields.

    The payload is validated as the JSON it travels as, in strict mode: a UUID may be a
    string (JSON has no UUIDs) but a number may not be one (``"40"``), nor a flag
    ``"true"``. Python values a producer hands :mod:`cj_worker.client` (UUIDs, models) are
    first written as the JSON the broker would carry.
    """
    try:
        document = json.dumps(payload, default=_as_json, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise PayloadError(model.__name__, f"(payload): not JSON ({error})") from None
    try:
        return model.model_validate_json(document, strict=True)
    except ValidationError as error:
        raise PayloadError(model.__name__, error) from None


def batch_id_of(value: Any) -> uuid.UUID:
    """``value`` as a batch id, or :class:`PayloadError` if it is not a UUID string."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        if not isinstance(value, str):
            raise ValueError
        return uuid.UUID(value)
    except ValueError:
        raise PayloadError("arguments", f"batch_id: not a UUID: {str(value)[:80]!r}") from None


def _as_json(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    raise TypeError(f"{type(value).__name__} is not a JSON type")
