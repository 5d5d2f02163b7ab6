"""LearnPulse: real-time personalization for workplace learning."""

__version__ = "0.1.0"
