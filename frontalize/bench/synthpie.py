"""SynthPIE benchmarks: generation speed, the realism bar (MTCNN on our faces) and the colour leak."""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from frontalize.bench.registry import benchmark
from frontalize.synthpie.generate import PRESETS, generate, render_unit
from frontalize.synthpie.leak import BARS, colour_leak
from frontalize.synthpie.realism import BAR_CAMERAS, measure, sample_images


@benchmark("synthpie_small_images_per_s", "generate the whole `small` preset (all cores); --quick: `tiny`")
def synthpie_speed(quick: bool) -> dict:
    preset = "tiny" if quick else "small"
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        summary = generate(Path(tmp) / "synthpie", preset, seed=0, progress=False)
        seconds = time.perf_counter() - t0
    return {
        "synthpie_small_images_per_s": round(summary["images"] / seconds, 1),
        "preset": preset,
        "images": summary["images"],
        "seconds": round(seconds, 1),
        "note": "one full run (the figure is the run itself, not a median of repeats)",
    }


@benchmark("synthpie_mtcnn_realism", "MTCNN detection rate per camera and landmark error on `small` subjects")
def synthpie_realism(quick: bool) -> dict:
    from frontalize.face.detect import FaceDetector

    n_subjects = 6 if quick else 24
    preset = PRESETS["small"]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for subject in range(1, n_subjects + 1):
            for recording in preset.recordings:
                render_unit(root, preset, 0, subject, 1, recording)
        paths = sample_images(root, per_camera=10**6)
        result = measure(root, paths, FaceDetector())
    return {
        "synthpie_mtcnn_realism": round(result["bar_median_error_iod"], 4),
        "bar_detection_rate": round(result["bar_detection_rate"], 4),
        "bar_median_error_iod": round(result["bar_median_error_iod"], 4),
        "bar_cameras": list(BAR_CAMERAS),
        "passes": result["passes"],
        "subjects": n_subjects,
        "per_camera": result["per_camera"],
    }


@benchmark("synthpie_colour_leak",
           "colour-histogram rank-1 on prepared `small` (setting1 0/+-45, session01 +-90) against its bars")
def synthpie_colour_leak(quick: bool) -> dict:
    """The headline is the setting1 0-degree rank-1 of the subject's colours; every bar is in ``bars``;
    ``background_by_yaw`` is the same measure on the background's pixels alone (drawn per image: near chance).

    The whole preset (or, with --quick, its first 60 subjects: protocol counts
    scaled, bars not applicable) is generated and prepared at 128 px into the
    bench cache once and reused.
    """
    from frontalize.bench.prep import CACHE, synthpie_subset
    from frontalize.data.manifest import read_manifest
    from frontalize.preparation.prep import PrepConfig, prepare

    subjects = 60 if quick else PRESETS["small"].subjects
    root = synthpie_subset(subjects)
    prepared = CACHE / f"synthpie_small_{subjects}_prepared"
    protocols = sorted({protocol for protocol, _ in BARS})
    prepare(PrepConfig(root=root, out=prepared, size=128, workers=os.cpu_count() or 1, progress=False,
                       protocols=tuple(protocols)))
    measured, background = {}, {}
    for protocol in protocols:
        rows = read_manifest(prepared, protocol, 128).rows
        measured[protocol] = colour_leak(prepared, rows)
        if all(row["alpha_path"] for row in rows):
            background[protocol] = colour_leak(prepared, rows, region="background")
    bars = {}
    for (protocol, yaw), bar in BARS.items():
        m = measured[protocol][yaw]
        bars[f"{protocol} {yaw:+d}"] = {
            "rank1": round(m["rank1"], 4), "bar": bar, "passes": None if quick else m["rank1"] <= bar,
            "probes": m["probes"], "gallery_subjects": m["gallery"], "chance": round(1 / m["gallery"], 4),
        }
    return {
        "synthpie_colour_leak": bars["setting1 +0"]["rank1"],
        "bars": bars,
        "passes": None if quick else all(b["passes"] for b in bars.values()),
        "by_yaw": {p: {y: round(m["rank1"], 4) for y, m in by_yaw.items()} for p, by_yaw in measured.items()},
        "background_by_yaw": {p: {y: round(m["rank1"], 4) for y, m in by_yaw.items()}
                              for p, by_yaw in background.items()},
        "subjects": subjects,
        "note": "quick: the first 60 subjects, protocol counts scaled, bars not applicable" if quick else "",
    }
