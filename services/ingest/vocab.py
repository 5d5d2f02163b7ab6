"""Vocabulary mapping: xAPI verb IRIs, Caliper actions and types -> canonical names.

Canonical verbs are snake_case (``completed``, ``logged_in``). Known verbs map
onto the small set the models understand; anything else keeps its own name
(last IRI segment, snake_cased), so no information is thrown away.

>>> xapi_verb("http://adlnet.gov/expapi/verbs/passed")
('completed', True)
>>> xapi_verb("http://adlnet.gov/expapi/verbs/experienced")
('viewed', None)
>>> xapi_verb("https://example.com/verbs/bookmarked-it")
('bookmarked_it', None)
>>> caliper_verb("NavigatedTo")
'viewed'
>>> caliper_verb("http://purl.imsglobal.org/vocab/caliper/v1/action#Started")
'started'
>>> xapi_object_type("http://adlnet.gov/expapi/activities/assessment")
'quiz'
"""

from __future__ import annotations

from services.ingest.fields import last_segment, snake

_ADL = "http://adlnet.gov/expapi/verbs/"
_ADL_W3ID = "https://w3id.org/xapi/adl/verbs/"
_TINCAN = "http://id.tincanapi.com/verb/"
_VIDEO = "https://w3id.org/xapi/video/verbs/"

# IRI -> (canonical verb, success implied by the verb or None)
XAPI_VERBS: dict[str, tuple[str, bool | None]] = {
    _ADL + "completed": ("completed", None),
    _ADL + "passed": ("completed", True),
    _ADL + "mastered": ("completed", True),
    _ADL + "failed": ("failed", False),
    _ADL + "attempted": ("attempted", None),
    _ADL + "answered": ("answered", None),
    _ADL + "responded": ("answered", None),
    _ADL + "experienced": ("viewed", None),
    _ADL + "launched": ("started", None),
    _ADL + "initialized": ("started", None),
    _ADL + "progressed": ("progressed", None),
    _ADL + "terminated": ("terminated", None),
    _ADL + "exited": ("terminated", None),
    _ADL + "suspended": ("paused", None),
    _ADL + "resumed": ("resumed", None),
    _ADL + "registered": ("registered", None),
    _ADL + "scored": ("scored", None),
    _ADL + "voided": ("voided", None),
    _ADL_W3ID + "satisfied": ("completed", None),
    _ADL_W3ID + "abandoned": ("terminated", None),
    _ADL_W3ID + "waived": ("waived", None),
    _ADL_W3ID + "logged-in": ("logged_in", None),
    _ADL_W3ID + "logged-out": ("logged_out", None),
    _TINCAN + "viewed": ("viewed", None),
    _TINCAN + "rated": ("rated", None),
    _VIDEO + "paused": ("paused", None),
    _VIDEO + "played": ("played", None),
    "http://activitystrea.ms/schema/1.0/start": ("started", None),
    "http://activitystrea.ms/schema/1.0/complete": ("completed", None),
}


def xapi_verb(iri: str) -> tuple[str, bool | None]:
    """Canonical verb of an xAPI verb IRI, and the success it implies (passed -> True)."""
    known = XAPI_VERBS.get(iri)
    if known is not None:
        return known
    return snake(last_segment(iri)) or "unknown", None


CALIPER_ACTIONS: dict[str, str] = {
    "NavigatedTo": "viewed",
    "LoggedIn": "logged_in",
    "LoggedOut": "logged_out",
    "TimedOut": "timed_out",
    "Ranked": "rated",
    "Launched": "started",
}


def caliper_verb(action: str) -> str:
    """Canonical verb of a Caliper action (1.0-style action IRIs are accepted too)."""
    name = last_segment(action) if ":" in action else action
    return CALIPER_ACTIONS.get(name) or snake(name) or "unknown"


_ACT = "http://adlnet.gov/expapi/activities/"
XAPI_ACTIVITY_TYPES: dict[str, str] = {
    _ACT + "course": "course",
    _ACT + "module": "module",
    _ACT + "lesson": "lesson",
    _ACT + "assessment": "quiz",
    _ACT + "question": "question",
    _ACT + "interaction": "question",
    _ACT + "cmi.interaction": "question",
    _ACT + "media": "video",
    _ACT + "link": "link",
    _ACT + "objective": "objective",
    _ACT + "simulation": "simulation",
    _ACT + "meeting": "meeting",
    "https://w3id.org/xapi/video/activity-type/video": "video",
    "http://id.tincanapi.com/activitytype/document": "article",
    "http://activitystrea.ms/schema/1.0/article": "article",
    "https://w3id.org/xapi/cmi5/activitytype/course": "course",
    "https://w3id.org/xapi/cmi5/activities/course": "course",
}


def xapi_object_type(iri: str | None) -> str:
    if not iri:
        return ""
    return XAPI_ACTIVITY_TYPES.get(iri) or snake(last_segment(iri))


CALIPER_TYPES: dict[str, str] = {
    "VideoObject": "video",
    "AudioObject": "audio",
    "MediaObject": "media",
    "ImageObject": "image",
    "Assessment": "quiz",
    "AssessmentItem": "question",
    "Questionnaire": "survey",
    "QuestionnaireItem": "question",
    "Survey": "survey",
    "Document": "article",
    "Page": "article",
    "WebPage": "article",
    "Chapter": "article",
    "Thesis": "article",
    "DigitalResource": "resource",
    "DigitalResourceCollection": "collection",
    "CourseOffering": "course",
    "CourseSection": "course",
    "SoftwareApplication": "application",
}


def caliper_object_type(type_name: str | None) -> str:
    if not type_name:
        return ""
    name = last_segment(type_name) if ":" in type_name else type_name
    return CALIPER_TYPES.get(name) or snake(name)
