"""Run benchmarks, each in a fresh interpreter so that its peak memory is its own."""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from frontalize.bench.registry import BENCHMARKS
from frontalize.bench.machine import describe, peak_rss_mib
from frontalize.utils.io import atomic_write_text


def load_all() -> None:
    """Import every module that registers benchmarks."""
    from frontalize.bench import (gan, geometry, gpu, identity, infer, landmarks, prep, recognizer,  # noqa: F401
                                  synthpie, train, warp_losses)


def run_one(name: str, quick: bool) -> dict:
    """In this process: run one benchmark and add its peak RSS."""
    load_all()
    fn, _ = BENCHMARKS[name]
    t0 = time.perf_counter()
    result = fn(quick)
    result["wall_s"] = round(time.perf_counter() - t0, 2)
    result["peak_rss_mib"] = round(peak_rss_mib(), 1)
    return result


def run_isolated(name: str, quick: bool) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, "-m", "frontalize.bench.runner", "--child", name, "--child-out", str(out)]
        if quick:
            cmd.append("--quick")
        proc = subprocess.run(cmd)
        if proc.returncode != 0 or not out.exists():
            return {"error": f"benchmark {name} failed (exit {proc.returncode})"}
        return json.loads(out.read_text())


def _headline(name: str, result: dict) -> str:
    if "skipped" in result:
        return f"{name:<40} skipped: {result['skipped']}"
    value = result.get(name, result.get("error", ""))
    return f"{name:<40} {value!s:>14}   peak RSS {result.get('peak_rss_mib', '?')} MiB, {result.get('wall_s', '?')} s"


def main(argv=None) -> int:
    load_all()
    p = argparse.ArgumentParser(description="Run frontalize's benchmarks and report named figures.")
    p.add_argument("names", nargs="*", help=f"benchmarks to run (default: all): {', '.join(BENCHMARKS)}")
    p.add_argument("--json", type=Path, help="write the results and the machine description here")
    p.add_argument("--quick", action="store_true", help="smaller workloads (for smoke tests)")
    p.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--child-out", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        atomic_write_text(args.child_out, json.dumps(run_one(args.child, args.quick)))
        return 0
    if args.list:
        for name, (_, help_) in BENCHMARKS.items():
            print(f"{name:<40} {help_}")
        return 0
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    machine = describe()
    print(f"machine: {machine['cpu']}, {machine['cores']} cores, torch {machine['torch']} ({machine['torch_threads']} threads)")
    results = {}
    for name in args.names or list(BENCHMARKS):
        results[name] = run_isolated(name, args.quick)
        print(_headline(name, results[name]), flush=True)
        if args.json:  # after each benchmark: a run cut short keeps what it measured
            atomic_write_text(args.json, json.dumps({"machine": machine, "quick": args.quick, "results": results}, indent=1))
    if args.json:
        print(f"wrote {args.json}")
    return 1 if any("error" in r for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
