"""Avro schemas of LearnPulse and their Confluent wire-format codec.

Each ``.avsc`` file is named after its event type (``learning.activity.recorded.v1``);
``released/`` keeps frozen copies that old producers wrote with, and ``ids.json``
gives every released schema a fixed id for the wire format.
"""

from schemas.codec import (
    CURRENT_IDS,
    DecodeError,
    current_header,
    decode,
    encode,
    load_schema,
    parsed_schema,
)

ACTIVITY = "learning.activity.recorded.v1"
PROFILE = "learner.profile.updated.v1"
CONTENT = "content.item.updated.v1"
PATH = "learning.path.assigned.v1"
ROLE_SKILLS = "role.skills.defined.v1"
RECOMMENDATION = "recommendation.list.generated.v1"
NUDGE = "nudge.decided.v1"

__all__ = [
    "ACTIVITY",
    "CONTENT",
    "CURRENT_IDS",
    "NUDGE",
    "PATH",
    "PROFILE",
    "RECOMMENDATION",
    "ROLE_SKILLS",
    "DecodeError",
    "current_header",
    "decode",
    "encode",
    "load_schema",
    "parsed_schema",
]
