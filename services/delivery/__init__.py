"""Delivery API: learners' recommendations, state and nudges over HTTP for browsers."""
