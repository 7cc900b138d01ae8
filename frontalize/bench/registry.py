"""The benchmarks' registry: named figures, each run in its own process by bench/runner.py.

A benchmark is a function ``fn(quick: bool) -> dict`` registered with
``@benchmark(NAME)``; it returns its figures (NAME among them) and any
details.  The runner adds the process's peak RSS and the machine.
"""
from __future__ import annotations

from typing import Callable

BENCHMARKS: dict[str, tuple[Callable[[bool], dict], str]] = {}


def benchmark(name: str, help: str):
    def register(fn):
        if name in BENCHMARKS:
            raise ValueError(f"benchmark {name!r} registered twice")
        BENCHMARKS[name] = (fn, help)
        return fn

    return register
