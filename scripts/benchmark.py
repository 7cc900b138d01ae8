#!/usr/bin/env python
"""Run frontalize's benchmarks: `python scripts/benchmark.py [NAMES...] [--json PATH] [--quick]`."""
import sys

from frontalize.bench.runner import main

if __name__ == "__main__":
    sys.exit(main())
