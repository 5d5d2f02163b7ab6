"""xAPI statements: happy paths of the mapping and every rejection rule."""

from __future__ import annotations

import copy
import hashlib
from typing import Any

import pytest

import schemas
from services.ingest import xapi
from services.ingest.errors import FieldError, InvalidEvent

ADL = "http://adlnet.gov/expapi/verbs/"
SID = "3a648e68-f00d-4c08-aa59-8738e1884f2c"


def stmt(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "actor": {"objectType": "Agent", "name": "Ada", "mbox": "mailto:ada@example.org"},
        "verb": {"id": ADL + "completed", "display": {"en-US": "completed"}},
        "object": {
            "objectType": "Activity",
            "id": "https://lms.example.com/courses/1/m/2",
            "definition": {
                "type": "http://adlnet.gov/expapi/activities/module",
                "name": {"en-US": "Module 2"},
            },
        },
        "timestamp": "2024-05-01T10:00:00.000Z",
    }
    for k, v in over.items():
        if v is None:
            base.pop(k, None)
        else:
            base[k] = v
    return base


def norm(body: Any, **kw: Any) -> list[xapi.Statement]:
    kw.setdefault("source", "lms")
    kw.setdefault("received_at_ms", 1_714_600_000_000)
    return xapi.normalize(body, **kw)


def errors_of(body: Any, **kw: Any) -> list[FieldError]:
    with pytest.raises(InvalidEvent) as info:
        norm(body, **kw)
    return list(info.value.errors)


def paths_of(body: Any, **kw: Any) -> list[str]:
    return [e["path"] for e in errors_of(body, **kw)]


# ---- happy paths -------------------------------------------------------------------------


def test_full_statement_maps_to_canonical_record() -> None:
    s = stmt(
        id=SID,
        verb={"id": ADL + "passed"},
        object={
            "id": "https://lms.example.com/quiz/2",
            "definition": {"type": "http://adlnet.gov/expapi/activities/assessment"},
        },
        result={
            "score": {"raw": 8, "min": 0, "max": 10},
            "success": True,
            "completion": True,
            "duration": "PT10M30S",
            "extensions": {"https://w3id.org/xapi/cmi5/result/extensions/progress": 100},
        },
        context={
            "registration": "ec531277-b57b-4c15-8d91-d292c5b2b8f7",
            "platform": "Moodle",
            "contextActivities": {"parent": [{"id": "https://lms.example.com/courses/1"}]},
            "extensions": {"https://example.com/ext/cohort": {"name": "2024"}},
        },
        timestamp="2024-05-01T12:00:00+02:00",
    )
    [out] = norm([s])
    rec = out.record
    assert out.id == SID == rec["event_id"]
    assert rec["learner_id"] == "mbox_sha1:" + hashlib.sha1(b"mailto:ada@example.org").hexdigest()
    assert rec["verb"] == "completed"
    assert rec["object_id"] == "https://lms.example.com/quiz/2"
    assert rec["object_type"] == "quiz"
    assert rec["occurred_at_ms"] == 1_714_557_600_000  # 10:00Z
    assert rec["result"] == {
        "score_scaled": 0.8,
        "success": True,
        "completion": True,
        "progress": 1.0,
        "duration_s": 630.0,
        "rating": None,
    }
    assert rec["context"] == {
        "course_id": "https://lms.example.com/courses/1",
        "session_id": "ec531277-b57b-4c15-8d91-d292c5b2b8f7",
        "platform": "Moodle",
        "skill_ids": [],
    }
    assert rec["extensions"]["https://example.com/ext/cohort"] == '{"name":"2024"}'
    assert schemas.decode(schemas.ACTIVITY, schemas.encode(schemas.ACTIVITY, rec)) == rec


def test_no_email_anywhere_in_the_record() -> None:
    [out] = norm(stmt())
    assert "ada@example.org" not in str(out.record)


def test_mbox_and_mbox_sha1sum_are_the_same_learner() -> None:
    sha = hashlib.sha1(b"mailto:ada@example.org").hexdigest()
    a = norm(stmt(actor={"mbox": "mailto:Ada@Example.org"}))[0].record["learner_id"]
    b = norm(stmt(actor={"mbox_sha1sum": sha}))[0].record["learner_id"]
    assert a == b


def test_account_and_openid_learner_ids() -> None:
    acct = {"account": {"homePage": "https://lms.example.com", "name": "u-42"}}
    assert norm(stmt(actor=acct))[0].record["learner_id"] == "account:https://lms.example.com|u-42"
    oid = {"openid": "https://id.example.com/u/42"}
    assert norm(stmt(actor=oid))[0].record["learner_id"] == "openid:https://id.example.com/u/42"


def test_lrs_fields_are_filled() -> None:
    sent = stmt(timestamp=None)
    [out] = norm(sent, authority={"account": {"homePage": "https://lp", "name": "k1"}})
    filled = out.statement
    assert out.fingerprint == xapi.fingerprint(sent)
    assert "id" not in sent and "stored" not in sent  # the caller's dict is not modified
    assert len(filled["id"]) == 36 and filled["id"] == out.record["event_id"]
    assert filled["stored"] == "2024-05-01T21:46:40.000Z"
    assert filled["timestamp"] == filled["stored"]  # no timestamp: the time it was stored
    assert filled["version"] == "1.0.0"
    assert filled["authority"]["account"]["name"] == "k1"
    assert out.record["occurred_at_ms"] == 1_714_600_000_000


@pytest.mark.parametrize(
    ("verb", "canonical", "success"),
    [
        ("completed", "completed", None),
        ("passed", "completed", True),
        ("failed", "failed", False),
        ("attempted", "attempted", None),
        ("answered", "answered", None),
        ("experienced", "viewed", None),
        ("launched", "started", None),
        ("initialized", "started", None),
        ("progressed", "progressed", None),
        ("terminated", "terminated", None),
    ],
)
def test_adl_verbs(verb: str, canonical: str, success: bool | None) -> None:
    [out] = norm(stmt(verb={"id": ADL + verb}))
    assert out.record["verb"] == canonical
    assert (out.record["result"] or {}).get("success") == success


def test_unknown_verb_keeps_last_iri_segment() -> None:
    [out] = norm(stmt(verb={"id": "https://example.com/xapi/verbs/bookmarked"}))
    assert out.record["verb"] == "bookmarked"


def test_scaled_score_wins_and_result_success_overrides_verb() -> None:
    [out] = norm(
        stmt(verb={"id": ADL + "passed"}, result={"score": {"scaled": -0.5}, "success": False})
    )
    assert out.record["result"]["score_scaled"] == -0.5
    assert out.record["result"]["success"] is False


def test_substatement_is_about_the_inner_object() -> None:
    inner = {
        "objectType": "SubStatement",
        "actor": {"mbox": "mailto:ada@example.org"},
        "verb": {"id": ADL + "completed"},
        "object": {"id": "https://lms.example.com/courses/9"},
    }
    [out] = norm(stmt(verb={"id": "http://id.tincanapi.com/verb/planned"}, object=inner))
    assert out.record["verb"] == "planned"
    assert out.record["object_id"] == "https://lms.example.com/courses/9"
    assert out.record["extensions"]["lp.xapi.substatement.verb"] == "completed"


def test_statement_ref_and_voiding() -> None:
    ref = {"objectType": "StatementRef", "id": SID}
    [out] = norm(stmt(verb={"id": ADL + "voided"}, object=ref))
    assert out.record["verb"] == "voided"
    assert out.record["object_id"] == SID and out.record["object_type"] == "statement"


def test_course_from_grouping_course_activity() -> None:
    ctx = {
        "contextActivities": {
            "parent": {"id": "https://lms.example.com/courses/1/m/1"},
            "grouping": [
                {
                    "id": "https://lms.example.com/courses/1",
                    "definition": {"type": "http://adlnet.gov/expapi/activities/course"},
                }
            ],
        }
    }
    [out] = norm(stmt(context=ctx))
    assert out.record["context"]["course_id"] == "https://lms.example.com/courses/1"


def test_xapi_2_context_agents_allowed_only_in_2_0() -> None:
    ctx = {
        "contextAgents": [{"objectType": "contextAgent", "agent": {"mbox": "mailto:t@example.org"}}]
    }
    assert norm(stmt(context=ctx), version="2.0.0")[0].statement["version"] == "2.0.0"
    assert "/context/contextAgents" in paths_of(stmt(context=ctx), version="1.0.3")


def test_fingerprint_ignores_lrs_fields_and_timestamp_format() -> None:
    a = stmt(id=SID)
    b = copy.deepcopy(a)
    b.update(
        stored="2030-01-01T00:00:00Z",
        version="1.0.3",
        timestamp="2024-05-01T10:00:00Z",
        authority={"mbox": "mailto:lrs@example.org"},
    )
    assert xapi.fingerprint(a) == xapi.fingerprint(b)
    c = copy.deepcopy(a)
    c["verb"]["id"] = ADL + "failed"
    assert xapi.fingerprint(a) != xapi.fingerprint(c)


def test_content_id_is_deterministic() -> None:
    fp = xapi.fingerprint(stmt())
    [a] = norm(stmt(), id_factory=xapi.content_id)
    [b] = norm(stmt(), id_factory=xapi.content_id)
    assert a.id == b.id == xapi.content_id(fp)


def test_put_statement_id_is_used() -> None:
    [out] = norm(stmt(), statement_id=SID)
    assert out.id == SID


@pytest.mark.parametrize(
    ("header", "version"),
    [
        ("1.0.0", "1.0.3"),
        ("1.0.3", "1.0.3"),
        ("1.0", "1.0.3"),
        ("2.0.0", "2.0.0"),
        ("0.95", None),
        ("", None),
        ("1.1.0", None),
        (None, None),
    ],
)
def test_version_header(header: str | None, version: str | None) -> None:
    assert xapi.version_of(header) == version


# ---- rejection rules ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("over", "path"),
    [
        ({"actor": None}, "/0/actor"),
        ({"verb": None}, "/0/verb"),
        ({"object": None}, "/0/object"),
        ({"actor": {"mbox": "ada@example.org"}}, "/0/actor/mbox"),
        ({"actor": {"mbox_sha1sum": "abc"}}, "/0/actor/mbox_sha1sum"),
        ({"actor": {"openid": "not an iri"}}, "/0/actor/openid"),
        ({"actor": {"account": {"name": "x"}}}, "/0/actor/account/homePage"),
        ({"actor": {"account": {"homePage": "https://lms"}}}, "/0/actor/account/name"),
        ({"actor": {"name": "nobody"}}, "/0/actor"),
        ({"actor": {"mbox": "mailto:a@b.org", "openid": "https://id/a"}}, "/0/actor"),
        (
            {"actor": {"objectType": "Group", "member": [{"mbox": "mailto:a@b.org"}]}},
            "/0/actor/objectType",
        ),
        ({"actor": {"mbox": "mailto:a@b.org", "age": 3}}, "/0/actor/age"),
        ({"verb": {"id": "completed"}}, "/0/verb/id"),
        ({"verb": {"id": ADL + "completed", "display": "done"}}, "/0/verb/display"),
        ({"object": {"id": "course 1"}}, "/0/object/id"),
        ({"object": {"objectType": "Thing", "id": "https://x/1"}}, "/0/object/objectType"),
        ({"object": {"objectType": "StatementRef", "id": "nope"}}, "/0/object/id"),
        (
            {"object": {"id": "https://x/1", "definition": {"type": "quiz"}}},
            "/0/object/definition/type",
        ),
        ({"verb": {"id": ADL + "voided"}}, "/0/object/objectType"),
        ({"id": "not-a-uuid"}, "/0/id"),
        ({"timestamp": "last tuesday"}, "/0/timestamp"),
        ({"timestamp": "2024-13-45T10:00:00Z"}, "/0/timestamp"),
        ({"version": "0.9"}, "/0/version"),
        ({"shoeSize": 44}, "/0/shoeSize"),
        ({"result": {"score": {"scaled": 1.5}}}, "/0/result/score/scaled"),
        ({"result": {"score": {"raw": 11, "min": 0, "max": 10}}}, "/0/result/score/raw"),
        ({"result": {"score": {"min": 5, "max": 1}}}, "/0/result/score/max"),
        ({"result": {"score": {"scaled": "high"}}}, "/0/result/score/scaled"),
        ({"result": {"success": "yes"}}, "/0/result/success"),
        ({"result": {"duration": "10 minutes"}}, "/0/result/duration"),
        ({"result": {"extensions": {"progress": 5}}}, "/0/result/extensions/progress"),
        (
            {"result": {"extensions": {xapi.CMI5_PROGRESS: 150}}},
            "/0/result/extensions/https:~1~1w3id.org~1xapi~1cmi5~1result~1extensions~1progress",
        ),
        ({"context": {"registration": "r-1"}}, "/0/context/registration"),
        (
            {"context": {"contextActivities": {"parent": [{"id": "bad iri"}]}}},
            "/0/context/contextActivities/parent/0/id",
        ),
        ({"context": {"contextActivities": {"cousin": []}}}, "/0/context/contextActivities/cousin"),
        (
            {"object": {"objectType": "StatementRef", "id": SID}, "context": {"platform": "x"}},
            "/0/context/platform",
        ),
        (
            {
                "attachments": [
                    {
                        "usageType": "https://x/u",
                        "contentType": "text/plain",
                        "length": 3,
                        "sha2": "ab",
                        "display": {"en": "a"},
                    }
                ]
            },
            "/0/attachments/0/fileUrl",
        ),
    ],
)
def test_rejection_rules(over: dict[str, Any], path: str) -> None:
    # The valid first statement does not save the batch: the whole batch is rejected.
    assert path.replace("/0/", "/1/", 1) in paths_of([stmt(id=SID), stmt(**over)])


def test_nested_substatement_rejected() -> None:
    sub = {
        "objectType": "SubStatement",
        "actor": {"mbox": "mailto:a@b.org"},
        "verb": {"id": ADL + "completed"},
        "object": {
            "objectType": "SubStatement",
            "actor": {"mbox": "mailto:a@b.org"},
            "verb": {"id": ADL + "completed"},
            "object": {"id": "https://x/1"},
        },
    }
    assert "/object/object/objectType" in paths_of(stmt(object=sub))


def test_substatement_must_not_carry_an_id() -> None:
    sub = {
        "objectType": "SubStatement",
        "id": SID,
        "actor": {"mbox": "mailto:a@b.org"},
        "verb": {"id": ADL + "completed"},
        "object": {"id": "https://x/1"},
    }
    assert "/object/id" in paths_of(stmt(object=sub))


def test_duplicate_ids_in_one_batch() -> None:
    errs = errors_of([stmt(id=SID), stmt(id=SID.upper())])
    assert errs[0]["path"] == "/1/id" and "duplicate" in errs[0]["error"]


def test_put_body_with_other_id_is_rejected() -> None:
    other = "ec531277-b57b-4c15-8d91-d292c5b2b8f7"
    assert "/id" in paths_of(stmt(id=other), statement_id=SID)


@pytest.mark.parametrize("body", [[], "statement", 42, None])
def test_body_must_be_statement_or_array(body: Any) -> None:
    assert paths_of(body) == [""]


def test_all_problems_are_reported_at_once() -> None:
    bad = stmt(actor={"mbox": "x"}, verb={"id": "y"}, timestamp="z")
    assert set(paths_of(bad)) == {"/actor/mbox", "/verb/id", "/timestamp"}
