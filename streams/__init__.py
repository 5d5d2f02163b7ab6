"""faust-streaming application: per-learner state, online models, recommendations, nudges."""

from learnpulse.native import guard

# Before any model module is imported: a compiled build that no longer matches its
# sources must not run (learnpulse/native.py, docs/decisions/0016).
guard()
