"""Seeded synthetic organisation: realistic learning events with ground truth.

>>> from learnpulse.synth import Organisation
>>> org = Organisation.generate(20, seed=1)
>>> ev = next(iter(org.events()))
>>> ev["source_format"], ev["learner_id"].startswith("lrn-")
('native', True)
"""

from __future__ import annotations

from learnpulse.synth.org import Organisation
from learnpulse.synth.pace import paced, throttled
from learnpulse.synth.truth import GroundTruth

__all__ = ["GroundTruth", "Organisation", "paced", "throttled"]
