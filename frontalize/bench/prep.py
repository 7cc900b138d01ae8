"""Preparation benchmarks: crops per second with ground-truth and with MTCNN landmarks, and memory vs size."""
from __future__ import annotations

import csv
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from frontalize.bench.registry import benchmark
from frontalize.data.multipie import CAMERA_BY_NAME
from frontalize.preparation.prep import PrepConfig, prepare
from frontalize.synthpie.generate import generate

CACHE = Path(os.environ.get("FRONTALIZE_BENCH_CACHE", "runs/bench_cache"))


def synthpie_subset(subjects: int) -> Path:
    """The first subjects of SynthPIE `small`, generated once and reused (not timed)."""
    root = CACHE / f"synthpie_small_{subjects}"
    generate(root, "small", seed=0, progress=False, subjects=subjects)
    return root


def _timed_prep(root: Path, landmarks: str, workers: int) -> tuple[dict, float, Path]:
    out = Path(tempfile.mkdtemp(prefix="prep_bench_"))
    t0 = time.perf_counter()
    summary = prepare(PrepConfig(root=root, out=out, size=128, workers=workers, landmarks=landmarks, progress=False))
    return summary, time.perf_counter() - t0, out


def _child_peak_rss_mib(root: Path, out: Path) -> float:
    """Peak RSS of a one-process `prep` run, read from the kernel's accounting for that child."""
    cmd = [sys.executable, "-m", "frontalize.cli.main", "prep", "--root", str(root), "--out", str(out),
           "--size", "128", "--workers", "1", "--quiet", "--protocols", "setting1", "session01"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise RuntimeError(f"prep failed: {cmd}")
    return usage.ru_maxrss / 1024


@benchmark("prep_gt_images_per_s", "prepare SynthPIE `small` subjects at 128 px with ground-truth landmarks (2 workers)")
def prep_gt(quick: bool) -> dict:
    subjects = 4 if quick else 20
    root = synthpie_subset(subjects)
    summary, seconds, _ = _timed_prep(root, "sidecar", workers=os.cpu_count() or 1)
    half = synthpie_subset(subjects // 2)
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        rss_half = _child_peak_rss_mib(half, Path(a))
        rss_full = _child_peak_rss_mib(root, Path(b))
    return {
        "prep_gt_images_per_s": round(summary["images"] / seconds, 1),
        "images": summary["images"],
        "seconds": round(seconds, 1),
        "single_process_peak_rss_mib": {f"{subjects // 2}_subjects": round(rss_half, 1), f"{subjects}_subjects": round(rss_full, 1)},
        "peak_rss_ratio_2x_images": round(rss_full / rss_half, 3),
    }


@benchmark("prep_mtcnn_images_per_s", "prepare SynthPIE `small` subjects at 128 px with MTCNN landmarks (2 workers)")
def prep_mtcnn(quick: bool) -> dict:
    subjects = 4 if quick else 20
    root = synthpie_subset(subjects)
    summary, seconds, out = _timed_prep(root, "mtcnn", workers=os.cpu_count() or 1)
    found, total = Counter(), Counter()
    with open(out / "index_128.csv", newline="") as f:
        for row in csv.DictReader(f):
            total[row["camera"]] += 1
            found[row["camera"]] += row["landmark_source"] == "mtcnn"
    by_camera = {
        c: round(found[c] / total[c], 3) for c in sorted(total, key=lambda c: (CAMERA_BY_NAME[c].elevation, CAMERA_BY_NAME[c].yaw))
    }
    return {
        "prep_mtcnn_images_per_s": round(summary["images"] / seconds, 1),
        "images": summary["images"],
        "seconds": round(seconds, 1),
        "landmark_sources": summary["landmark_source"],
        "mtcnn_success_by_camera": by_camera,
    }
