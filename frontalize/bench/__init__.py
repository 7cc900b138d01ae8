"""The project's benchmarks (``scripts/benchmark.py``): named figures, each measured in its own process."""
