"""The embedded stack: Tansu broker, Redis, stream workers and HTTP services on loopback."""
