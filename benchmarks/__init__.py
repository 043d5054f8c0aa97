"""Benchmark suite: ``python -m benchmarks`` (full) or ``python -m benchmarks --quick`` (CI)."""
