"""Chunked intake's contracts: ``essay_count`` and its digest, ``EssayChunk``, the canonical
digest the client and the worker share (cj_worker.payloads)."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

import pytest

from cj_worker.payloads import (
    MAX_CHUNK_TEXT_CHARS,
    MAX_ESSAY_CHARS,
    MAX_ESSAYS_PER_BATCH,
    MAX_ESSAYS_PER_CHUNK,
    BatchRequest,
    EssayChunk,
    EssayIn,
    PayloadError,
    essays_sha256,
    parse,
)


def essays(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [
        {"id": f"e{i}", "text": f"essay {i}", "true_score": float(i)}
        for i in range(start, start + n)
    ]


def digest(payloads: list[dict[str, Any]]) -> str:
    return essays_sha256(parse(EssayIn, essay) for essay in payloads)


def chunked(n_first: int = 3, n_total: int = 10, **fields: Any) -> dict[str, Any]:
    """A create that carries the first ``n_first`` of ``n_total`` essays."""
    everything = essays(n_total)
    return {
        "essays": everything[:n_first],
        "essay_count": n_total,
        "essays_sha256": digest(everything),
        **fields,
    }


def rejected(model: type[Any], payload: Any) -> str:
    with pytest.raises(PayloadError) as raised:
        parse(model, payload)
    return str(raised.value)


# ------------------------------------------------------------------------------ digest


def test_the_digest_is_sha256_of_the_documented_canonical_json() -> None:
    listed = [
        EssayIn(id="a", text="Åsa's essay", true_score=1),
        EssayIn(id="b", text="x", is_anchor=True, grade="C"),
    ]
    canonical = '[["a","Åsa\'s essay",false,null,1.0],["b","x",true,"C",null]]'

    assert essays_sha256(listed) == hashlib.sha256(canonical.encode()).hexdigest()
    as_tuples = [("a", "Åsa's essay", False, None, 1.0), ("b", "x", True, "C", None)]
    assert essays_sha256(as_tuples) == essays_sha256(listed), "stored rows digest the same"


def test_the_digest_reads_essays_as_validated_and_in_order() -> None:
    padded = [{"id": " e0 ", "text": "  essay 0\n", "true_score": 0}, *essays(2, start=1)]
    assert digest(padded) == digest(essays(3)), "ids and texts are trimmed, 0 is 0.0"
    assert digest(list(reversed(essays(3)))) != digest(essays(3))
    assert essays_sha256([]) == hashlib.sha256(b"[]").hexdigest()


# ------------------------------------------------------------------- the chunked create


def test_a_chunked_create_carries_the_first_essays_the_count_and_the_digest() -> None:
    request = parse(BatchRequest, chunked())
    assert (len(request.essays), request.essay_count, request.chunked) == (3, 10, True)
    assert request.essays_sha256 == digest(essays(10))


def test_a_request_whole_is_not_chunked_and_keeps_its_fingerprint() -> None:
    batch_id = str(uuid.uuid4())
    plain = parse(BatchRequest, {"batch_id": batch_id, "essays": essays(3)})
    spelled_out = parse(
        BatchRequest,
        {"batch_id": batch_id, "essays": essays(3), "essay_count": None, "essays_sha256": None},
    )
    assert not plain.chunked
    assert plain.fingerprint() == spelled_out.fingerprint(), "the new fields default away"


def test_a_count_equal_to_the_essays_sent_is_a_whole_request_with_its_digest_checked() -> None:
    whole = parse(BatchRequest, chunked(n_first=4, n_total=4))
    assert not whole.chunked
    wrong = {**chunked(n_first=4, n_total=4), "essays_sha256": "0" * 64}
    assert "essays_sha256: does not match the essays of the request" in rejected(
        BatchRequest, wrong
    )


def test_a_digest_without_a_count_is_checked_against_the_essays() -> None:
    assert parse(BatchRequest, {"essays": essays(3), "essays_sha256": digest(essays(3))})
    assert "essays_sha256: does not match" in rejected(
        BatchRequest, {"essays": essays(3), "essays_sha256": digest(essays(4))}
    )


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        pytest.param(
            {"essay_count": 2}, "essay_count: 2 declared, but the request holds 3", id="too-few"
        ),
        pytest.param(
            {"essays_sha256": None}, "essays_sha256: required with essay_count", id="no-sha"
        ),
        pytest.param({"essays_sha256": "ABC"}, "essays_sha256: String should match", id="not-hex"),
        pytest.param(
            {"essay_count": 0}, "essay_count: Input should be greater than or equal to 1", id="0"
        ),
        pytest.param(
            {"essay_count": MAX_ESSAYS_PER_BATCH + 1},
            f"essay_count: Input should be less than or equal to {MAX_ESSAYS_PER_BATCH}",
            id="beyond-the-net-size",
        ),
        pytest.param(
            {"essay_count": "10"}, "essay_count: Input should be a valid integer", id="str"
        ),
    ],
)
def test_a_bad_chunked_create_names_the_field(fields: dict[str, Any], named: str) -> None:
    assert named in rejected(BatchRequest, chunked(**fields))


def test_the_first_chunk_obeys_the_chunk_limits() -> None:
    many = essays(MAX_ESSAYS_PER_CHUNK + 1)
    request = {"essays": many, "essay_count": len(many) + 1, "essays_sha256": "0" * 64}
    assert f"a chunk holds at most {MAX_ESSAYS_PER_CHUNK}" in rejected(BatchRequest, request)
    long = [{"id": f"l{i}", "text": "w" * MAX_ESSAY_CHARS, "true_score": 0.0} for i in range(21)]
    request = {"essays": long, "essay_count": 30, "essays_sha256": "0" * 64}
    assert f"a chunk holds at most {MAX_CHUNK_TEXT_CHARS}" in rejected(BatchRequest, request)


def test_a_request_sent_whole_keeps_the_limits_it_always_had() -> None:
    """No chunk limits without essay_count: today's producers are not refused."""
    many = essays(MAX_ESSAYS_PER_CHUNK + 1)
    assert len(parse(BatchRequest, {"essays": many}).essays) == MAX_ESSAYS_PER_CHUNK + 1


# ------------------------------------------------------------------------- the chunk


def chunk(**fields: Any) -> dict[str, Any]:
    return {"batch_id": str(uuid.uuid4()), "offset": 3, "essays": essays(2, start=3), **fields}


def test_a_chunk_survives_a_json_round_trip() -> None:
    parsed = parse(EssayChunk, chunk(tenant="school-1"))
    assert (parsed.offset, [e.id for e in parsed.essays], parsed.tenant) == (
        3,
        ["e3", "e4"],
        "school-1",
    )
    assert parse(EssayChunk, json.loads(parsed.model_dump_json())) == parsed


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        pytest.param({"offset": 0}, "offset: Input should be greater than or equal to 1", id="0"),
        pytest.param({"offset": -1}, "offset: Input should be greater", id="negative"),
        pytest.param({"offset": "3"}, "offset: Input should be a valid integer", id="string"),
        pytest.param({"offset": 3.0}, "offset: Input should be a valid integer", id="float"),
        pytest.param(
            {"offset": MAX_ESSAYS_PER_BATCH},
            f"offset: Input should be less than {MAX_ESSAYS_PER_BATCH}",
            id="beyond-the-net-size",
        ),
        pytest.param({"essays": []}, "essays: List should have at least 1 item", id="empty"),
        pytest.param({"batch_id": "b-1"}, "batch_id: Input should be a valid UUID", id="batch-id"),
        pytest.param({"batch_id": None}, "batch_id: UUID input should be", id="no-batch-id"),
        pytest.param({"tenant": ""}, "tenant: String should have at least 1", id="empty-tenant"),
        pytest.param({"wave": 1}, "wave: Extra inputs are not permitted", id="unknown-field"),
        pytest.param(
            {"essays": [*essays(2), essays(1)[0]]},
            "essays: duplicate essay id 'e0'",
            id="duplicate-ids",
        ),
        pytest.param(
            {"essays": [{"id": "x", "text": " "}]},
            "essays.0.text: String should have at least 1 character",
            id="blank-text",
        ),
        pytest.param(
            {"essays": [{"id": "x", "text": "t", "is_anchor": True}]},
            "anchor essay 'x' needs a grade",
            id="anchor-without-grade",
        ),
        pytest.param(
            {"essays": essays(MAX_ESSAYS_PER_CHUNK + 1)},
            f"essays: List should have at most {MAX_ESSAYS_PER_CHUNK} items",
            id="too-many-essays",
        ),
        pytest.param(
            {
                "essays": [
                    {"id": f"l{i}", "text": "w" * MAX_ESSAY_CHARS, "true_score": 0.0}
                    for i in range(21)
                ]
            },
            f"essays: 2100000 characters of text in one chunk; a chunk holds at most "
            f"{MAX_CHUNK_TEXT_CHARS}",
            id="too-much-text",
        ),
    ],
)
def test_a_bad_chunk_names_the_field(fields: dict[str, Any], named: str) -> None:
    message = rejected(EssayChunk, chunk(**fields))
    assert message.startswith("invalid EssayChunk: ")
    assert named in message


def test_a_chunk_of_the_largest_size_is_accepted() -> None:
    at_the_limit = [
        {"id": f"l{i}", "text": "w" * MAX_ESSAY_CHARS}
        for i in range(MAX_CHUNK_TEXT_CHARS // MAX_ESSAY_CHARS)
    ]
    assert len(parse(EssayChunk, chunk(essays=at_the_limit)).essays) == 20
