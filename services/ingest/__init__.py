"""Ingest: turn events from many learning tools into canonical learning events.

Pure normalisers (no network): :mod:`xapi`, :mod:`caliper`, :mod:`openedx`,
:mod:`native` and :mod:`raw` (the raw-topic entry point). The HTTP gateway
(:mod:`app`) authenticates, validates, deduplicates and publishes to Kafka.
"""
