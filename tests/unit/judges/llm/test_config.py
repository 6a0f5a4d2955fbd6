"""The LLM judge's per-batch spec and the worker's settings: what is accepted, what not."""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

import pytest
from pydantic import ValidationError

from cj_worker.judges.llm.config import LlmWorkerSettings
from cj_worker.llm_spec import LlmJudge, PanelMember, TokenPrice
from cj_worker.payloads import BatchRequest, PayloadError, parse

BASE = "https://llm.example.test/v1"


def spec(**fields: Any) -> LlmJudge:
    values: dict[str, Any] = {"base_url": BASE, "model": "m1"}
    values.update(fields)
    return LlmJudge.model_validate(values)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ftp://host/v1", r"http\(s\) URL"),
        ("not a url", r"http\(s\) URL"),
        ("https://user:secret@host/v1", "credentials"),
        ("https://host/v1?key=secret", "query"),
    ],
)
def test_base_url_must_be_a_plain_http_url(url: str, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        spec(base_url=url)


def test_base_url_loses_its_trailing_slash() -> None:
    assert spec(base_url=f"{BASE}/").base_url == BASE


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("sk-abc123", "NAME of an environment variable"),
        ("MY KEY", "NAME of an environment variable"),
        ("CJ_DATABASE_URL", "CJ_ settings"),
        ("cj_broker_url", "CJ_ settings"),
    ],
)
def test_api_key_env_is_a_variable_name_and_never_one_of_ours(name: str, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        spec(api_key_env=name)


def test_one_model_or_a_panel_never_both_nor_neither() -> None:
    with pytest.raises(ValidationError, match="either one model or a panel"):
        spec(model=None)
    with pytest.raises(ValidationError, match="either one model or a panel"):
        spec(panel=[PanelMember(model="m2")])
    with pytest.raises(ValidationError, match="same judge_id"):
        spec(model=None, panel=[PanelMember(model="m2"), PanelMember(model="m2")])


def test_members_carry_judge_ids_and_their_own_sampling_settings() -> None:
    single = spec(temperature=0.3, max_tokens=200)
    (member,) = single.members()
    assert (member.judge_id, member.model, member.temperature, member.max_tokens) == (
        "llm:m1",
        "m1",
        0.3,
        200,
    )
    assert spec(judge_id="grader-7").members()[0].judge_id == "grader-7"
    panel = spec(
        model=None,
        temperature=0.2,
        panel=[PanelMember(model="m2"), PanelMember(model="m3", judge_id="j3", temperature=1.0)],
    ).members()
    assert [(m.judge_id, m.model, m.temperature) for m in panel] == [
        ("llm:m2", "m2", 0.2),
        ("j3", "m3", 1.0),
    ]


def test_a_panel_spreads_comparisons_by_id_and_a_redelivery_goes_to_the_same_model() -> None:
    panel = spec(model=None, panel=[PanelMember(model=f"m{i}") for i in range(3)])
    ids = [uuid.uuid4() for _ in range(3000)]
    chosen = [panel.member_for(comparison_id).model for comparison_id in ids]
    assert chosen == [panel.member_for(comparison_id).model for comparison_id in ids]
    shares = Counter(chosen)
    assert set(shares) == {"m0", "m1", "m2"}
    assert all(800 < count < 1200 for count in shares.values()), shares


def test_the_price_table_prices_tokens_per_million() -> None:
    priced = spec(prices={"m1": TokenPrice(prompt=2.5, completion=10.0)})
    price = priced.price("m1")
    assert price is not None
    assert price.cost(1_000_000, 100_000) == pytest.approx(3.5)
    assert priced.price("other") is None


def test_worker_settings_decide_which_key_variables_a_batch_may_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    default = LlmWorkerSettings()
    assert default.key_env_allowed("OPENAI_API_KEY")
    assert not default.key_env_allowed("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("CJ_LLM_API_KEY_ENVS", '["HF_TOKEN"]')
    listed = LlmWorkerSettings()
    assert listed.key_env_allowed("HF_TOKEN")
    assert not listed.key_env_allowed("OPENAI_API_KEY")


def request_payload(judge: dict[str, Any], **fields: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "essays": [{"id": "s1", "text": "one"}, {"id": "s2", "text": "two"}],
        "judge": judge,
    }
    payload.update(fields)
    return payload


def test_a_batch_request_copies_assignment_and_rubric_into_its_llm_judge() -> None:
    request = parse(
        BatchRequest,
        request_payload(
            {"kind": "llm", "base_url": BASE, "model": "m1"},
            assignment="Argue for or against school uniforms.",
            rubric="Reward a clear thesis.",
        ),
    )
    assert isinstance(request.judge, LlmJudge)
    assert request.judge.assignment == "Argue for or against school uniforms."
    assert request.judge.rubric == "Reward a clear thesis."
    assert request.assignment == "Argue for or against school uniforms."
    again = parse(BatchRequest, request.model_dump(mode="json"))
    assert again == request, "the stored form validates to the same request"


def test_a_judge_whose_assignment_differs_from_the_requests_is_rejected() -> None:
    with pytest.raises(PayloadError, match=r"judge\.assignment: differs"):
        parse(
            BatchRequest,
            request_payload(
                {"kind": "llm", "base_url": BASE, "model": "m1", "assignment": "another task"},
                assignment="the task",
            ),
        )


def test_an_llm_batch_needs_no_true_scores_and_names_bad_fields() -> None:
    parse(BatchRequest, request_payload({"kind": "llm", "base_url": BASE, "model": "m1"}))
    with pytest.raises(PayloadError, match=r"judge\.llm\.concurrency"):
        parse(
            BatchRequest,
            request_payload({"kind": "llm", "base_url": BASE, "model": "m1", "concurrency": 0}),
        )
