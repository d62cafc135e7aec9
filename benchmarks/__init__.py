"""Benchmark scripts for tafa-jax (run ``python -m benchmarks.run``; see README.md)."""
