"""Validation of xAPI building blocks: agents, groups, verbs, activities, language maps.

Each function checks one xAPI object against the 1.0.3 data model (2.0 where it
differs), reports problems into an :class:`~services.ingest.fields.Errors`
collector under ``path``, and returns what the normaliser needs from it.
Unknown properties are rejected, as an LRS must.
"""

from __future__ import annotations

import re
from typing import Any

from services.ingest import learners
from services.ingest.fields import Errors, is_iri, is_uuid, ptr

_SHA1 = re.compile(r"^[0-9a-fA-F]{40}$")
AGENT_KEYS = frozenset({"objectType", "name", "mbox", "mbox_sha1sum", "openid", "account"})
GROUP_KEYS = AGENT_KEYS | {"member"}
IFIS = ("mbox", "mbox_sha1sum", "openid", "account")


def unknown_keys(obj: dict[str, Any], allowed: frozenset[str], path: str, errs: Errors) -> None:
    for key in obj:
        if key not in allowed:
            errs.add(ptr(path, key), "unknown property")


def is_obj(value: Any, path: str, errs: Errors, what: str = "an object") -> bool:
    if not isinstance(value, dict):
        errs.add(path, f"must be {what}")
        return False
    return True


def language_map(value: Any, path: str, errs: Errors) -> None:
    if not is_obj(value, path, errs, "a language map (object of language tag -> string)"):
        return
    for tag, text in value.items():
        if not isinstance(text, str):
            errs.add(ptr(path, tag), "must be a string")


def extensions(value: Any, path: str, errs: Errors) -> dict[str, Any]:
    if not is_obj(value, path, errs):
        return {}
    for key in value:
        if not is_iri(key):
            errs.add(ptr(path, key), "extension keys must be absolute IRIs")
    return dict(value)


def ifi_id(obj: dict[str, Any], path: str, errs: Errors, required: bool) -> str | None:
    """Validate the inverse functional identifier of an Agent/Group; return the learner id."""
    present = [k for k in IFIS if k in obj]
    if len(present) > 1:
        errs.add(path, f"must have exactly one of {', '.join(IFIS)}; has {present}")
        return None
    if not present:
        if required:
            errs.add(path, "an Agent must have one of mbox, mbox_sha1sum, openid, account")
        return None
    key = present[0]
    value = obj[key]
    at = ptr(path, key)
    if key == "mbox":
        if not (
            isinstance(value, str)
            and value.lower().startswith("mailto:")
            and learners.looks_like_email(value[7:])
        ):
            errs.add(at, "must be a mailto: IRI with an email address")
            return None
        return learners.from_mbox(value)
    if key == "mbox_sha1sum":
        if not (isinstance(value, str) and _SHA1.match(value)):
            errs.add(at, "must be a 40-character hex SHA-1")
            return None
        return learners.from_mbox_sha1sum(value)
    if key == "openid":
        if not is_iri(value):
            errs.add(at, "must be an absolute IRI")
            return None
        return learners.from_openid(value)
    if not is_obj(value, at, errs):
        return None
    unknown_keys(value, frozenset({"homePage", "name"}), at, errs)
    home, name = value.get("homePage"), value.get("name")
    ok = True
    if not is_iri(home):
        errs.add(ptr(at, "homePage"), "required, must be an absolute IRI")
        ok = False
    if not isinstance(name, str) or not name:
        errs.add(ptr(at, "name"), "required, must be a non-empty string")
        ok = False
    return learners.from_account(home, name) if ok else None


def agent(value: Any, path: str, errs: Errors) -> str | None:
    """An Agent; returns its pseudonymous id."""
    if not is_obj(value, path, errs):
        return None
    unknown_keys(value, AGENT_KEYS, path, errs)
    if value.get("objectType", "Agent") != "Agent":
        errs.add(ptr(path, "objectType"), "must be 'Agent'")
    if "name" in value and not isinstance(value["name"], str):
        errs.add(ptr(path, "name"), "must be a string")
    return ifi_id(value, path, errs, required=True)


def group(value: dict[str, Any], path: str, errs: Errors) -> str | None:
    """A Group (anonymous or identified); returns its id when identified."""
    unknown_keys(value, GROUP_KEYS, path, errs)
    members = value.get("member")
    gid = ifi_id(value, path, errs, required=False)
    if members is None:
        if gid is None:
            errs.add(ptr(path, "member"), "an anonymous Group must list its members")
        return gid
    if not isinstance(members, list):
        errs.add(ptr(path, "member"), "must be an array of Agents")
        return gid
    for i, m in enumerate(members):
        agent(m, ptr(path, "member", i), errs)
    return gid


def actor_or_group(value: Any, path: str, errs: Errors) -> str | None:
    """An Agent or a Group (context.instructor, object as agent); returns an id if any."""
    if not is_obj(value, path, errs):
        return None
    if value.get("objectType") == "Group":
        return group(value, path, errs)
    return agent(value, path, errs)


def learner(value: Any, path: str, errs: Errors) -> str | None:
    """The statement actor: LearnPulse records one learner per event, so Agents only."""
    if isinstance(value, dict) and value.get("objectType") == "Group":
        group(value, path, errs)
        errs.add(
            ptr(path, "objectType"),
            "Group actors are not supported: each event needs one learner (send one "
            "statement per member)",
        )
        return None
    return agent(value, path, errs)


def verb(value: Any, path: str, errs: Errors) -> str | None:
    if not is_obj(value, path, errs):
        return None
    unknown_keys(value, frozenset({"id", "display"}), path, errs)
    vid = value.get("id")
    if not is_iri(vid):
        errs.add(ptr(path, "id"), "required, must be an absolute IRI")
        vid = None
    if "display" in value:
        language_map(value["display"], ptr(path, "display"), errs)
    return vid


DEFINITION_KEYS = frozenset(
    {
        "name",
        "description",
        "type",
        "moreInfo",
        "extensions",
        "interactionType",
        "correctResponsesPattern",
        "choices",
        "scale",
        "source",
        "target",
        "steps",
    }
)
INTERACTION_TYPES = frozenset(
    {
        "true-false",
        "choice",
        "fill-in",
        "long-fill-in",
        "matching",
        "performance",
        "sequencing",
        "likert",
        "numeric",
        "other",
    }
)


def activity(value: dict[str, Any], path: str, errs: Errors) -> tuple[str | None, str | None]:
    """An Activity; returns (id, definition.type)."""
    unknown_keys(value, frozenset({"objectType", "id", "definition"}), path, errs)
    aid = value.get("id")
    if not is_iri(aid):
        errs.add(ptr(path, "id"), "required, must be an absolute IRI")
        aid = None
    atype = None
    definition = value.get("definition")
    if definition is not None and is_obj(definition, ptr(path, "definition"), errs):
        dpath = ptr(path, "definition")
        unknown_keys(definition, DEFINITION_KEYS, dpath, errs)
        for key in ("name", "description"):
            if key in definition:
                language_map(definition[key], ptr(dpath, key), errs)
        for key in ("type", "moreInfo"):
            if key in definition and not is_iri(definition[key]):
                errs.add(ptr(dpath, key), "must be an absolute IRI")
        if isinstance(definition.get("type"), str):
            atype = definition["type"]
        if "extensions" in definition:
            extensions(definition["extensions"], ptr(dpath, "extensions"), errs)
        itype = definition.get("interactionType")
        if itype is not None and itype not in INTERACTION_TYPES:
            errs.add(ptr(dpath, "interactionType"), f"must be one of {sorted(INTERACTION_TYPES)}")
    return aid, atype


def statement_ref(value: dict[str, Any], path: str, errs: Errors) -> str | None:
    unknown_keys(value, frozenset({"objectType", "id"}), path, errs)
    if not is_uuid(value.get("id")):
        errs.add(ptr(path, "id"), "required, must be a UUID")
        return None
    return str(value["id"]).lower()
