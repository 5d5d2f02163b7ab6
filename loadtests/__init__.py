"""Load generator and benchmarks (they print figures; they never assert timings)."""
