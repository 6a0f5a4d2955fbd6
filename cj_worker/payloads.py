"""The message contracts: what producers send, what judges receive and answer.

Every task takes one of these as a plain JSON dict and validates it first, so a bad message
is rejected with an error naming the field and changes nothing. Producers can build them
through :mod:`cj_worker.client` or send the JSON by hand with ``send_task``.
"""

from __future__ import annotations

import uuid
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
from cj_worker.config import AlgorithmSettings
from cj_worker.core.grade_scales import (
    BUILT_IN_SCALES,
    DEFAULT_GRADE_SCALE,
    GradeScale,
    built_in_scale,
)

__all__ = [
    "BatchRequest",
    "ComparisonRequest",
    "ComparisonResult",
    "EssayIn",
    "ExternalJudge",
    "GradeScaleIn",
    "PayloadError",
    "SimulatedJudge",
    "parse",
]

MAX_ESSAYS_PER_BATCH = 20_000
"""Largest net accepted: beyond it one wave's bookkeeping would outgrow a task time limit."""


class PayloadError(ValueError):
    """A message failed validation; ``str()`` names every bad field."""

    def __init__(self, model: str, error: ValidationError) -> None:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc']) or '(payload)'}: {item['msg']}"
            for item in error.errors()
        )
        super().__init__(f"invalid {model}: {problems}")


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class EssayIn(_Message):
    id: Annotated[str, Field(min_length=1, max_length=255)]
    text: str = ""
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
    task: Annotated[str, Field(min_length=1, max_length=255)]
    queue: Annotated[str, Field(min_length=1, max_length=255)] = task_names.EXTERNAL_JUDGE_QUEUE
    """Must be a queue the judge's workers consume and cj workers do not."""

    @model_validator(mode="after")
    def _not_a_cj_queue(self) -> Self:
        if self.queue in task_names.QUEUES:
            raise ValueError(
                f"queue: {self.queue!r} is consumed by cj workers, which would discard "
                f"{self.task!r}; use the judge's own queue"
            )
        return self


JudgeSpec = Annotated[SimulatedJudge | ExternalJudge, Field(discriminator="kind")]


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
    external_ref: Annotated[str | None, Field(max_length=255)] = None
    tenant: Annotated[str | None, Field(max_length=255)] = None
    essays: Annotated[list[EssayIn], Field(min_length=1, max_length=MAX_ESSAYS_PER_BATCH)]
    budget: Annotated[int | None, Field(ge=1, le=100_000_000)] = None
    """Most comparisons to spend; defaults to ``max_pairwise_comparisons``."""
    settings: dict[str, Any] = Field(default_factory=dict)
    """Per-batch overrides of the algorithmic settings (names as in the README)."""
    judge: JudgeSpec = Field(default_factory=SimulatedJudge)
    result_task: Annotated[str | None, Field(max_length=255)] = None
    """Celery task that receives the result event when the batch ends."""
    result_queue: Annotated[str, Field(min_length=1, max_length=255)] = task_names.RESULTS_QUEUE
    """Queue of the result event: one the producer's workers consume, not a cj queue."""
    grade_scale: Annotated[
        Annotated[Annotated[str, Field(min_length=1, max_length=64)], Tag("name")]
        | Annotated[GradeScaleIn, Tag("definition")],
        Discriminator(_scale_kind),
    ] = DEFAULT_GRADE_SCALE
    """A built-in scale's name or a scale of the producer's; anchors' grades must be in it."""

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

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.result_queue in task_names.QUEUES:
            raise ValueError(
                f"result_queue: {self.result_queue!r} is consumed by cj workers, which would "
                "discard the result event; use a queue of the producer's"
            )
        seen: set[str] = set()
        for essay in self.essays:
            if essay.id in seen:
                raise ValueError(f"essays: duplicate essay id {essay.id!r}")
            seen.add(essay.id)
        AlgorithmSettings().override(self.settings)  # raises naming the bad setting
        scale = self.scale()
        for position, essay in enumerate(self.essays):
            if essay.is_anchor and essay.grade not in scale.grades:
                raise ValueError(
                    f"essays.{position}.grade: anchor {essay.id!r} has grade {essay.grade!r}, "
                    f"which is not in grade scale {scale.name!r} ({', '.join(scale.grades)})"
                )
        if isinstance(self.judge, SimulatedJudge):
            missing = [e.id for e in self.essays if e.true_score is None]
            if missing:
                raise ValueError(
                    f"essays: the simulated judge needs true_score for every essay "
                    f"(missing for {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''})"
                )
        return self


class EssayView(_Message):
    """What a judge sees of an essay: text only, never its id or anchor status."""

    text: str


class ComparisonRequest(_Message):
    """What a judge task receives; it must answer with a :class:`ComparisonResult`."""

    comparison_id: uuid.UUID
    batch_id: uuid.UUID
    essay_a: EssayView
    essay_b: EssayView
    callback_task: str = "cj.record_comparison_result"
    callback_queue: str = "cj.callbacks"
    simulation: tuple[float, float] | None = None
    """True scores of A and B, sent only to the built-in simulated judge."""


class ComparisonResult(_Message):
    """Payload of ``cj.record_comparison_result``: one judged (or failed) comparison."""

    comparison_id: uuid.UUID
    status: Literal["succeeded", "failed"]
    winner: Literal["A", "B"] | None = None
    judge_id: Annotated[str | None, Field(max_length=255)] = None
    confidence: Annotated[float | None, Field(ge=0.0, le=1.0)] = None
    justification: Annotated[str | None, Field(max_length=20_000)] = None
    error_code: Annotated[str | None, Field(max_length=64)] = None
    error_detail: Annotated[str | None, Field(max_length=20_000)] = None

    @model_validator(mode="after")
    def _winner_iff_succeeded(self) -> Self:
        if self.status == "succeeded" and self.winner is None:
            raise ValueError("winner: a succeeded comparison needs winner 'A' or 'B'")
        if self.status == "failed" and self.winner is not None:
            raise ValueError("winner: a failed comparison cannot have a winner")
        return self


M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], payload: Any) -> M:
    """Validate ``payload`` as ``model`` or raise :class:`PayloadError` naming the fields."""
    try:
        return model.model_validate(payload)
    except ValidationError as error:
        raise PayloadError(model.__name__, error) from None
