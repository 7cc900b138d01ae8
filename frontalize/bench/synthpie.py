"""SynthPIE benchmarks: generation speed and the realism bar (MTCNN on our faces)."""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

from frontalize.bench.registry import benchmark
from frontalize.synthpie.generate import PRESETS, generate, render_unit
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
