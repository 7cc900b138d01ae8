"""MTCNN's five landmarks against SynthPIE's exact ones, per camera: what a model meets at inference.

Training fits poses (and the warp) to SynthPIE's exact landmarks; ``frontalize infer`` fits them to MTCNN's.
For every sampled image: MTCNN's best face (as preparation takes it), its five points minus the sidecar's,
expressed in the training crop (the exact landmarks aligned as preparation aligns them, at ``SIZE`` px) and in
the template's inter-ocular distances; the yaw fitted to MTCNN's points as infer fits it, against the yaw
training fits to the exact points.  From these errors, per camera, the model of ``face/mtcnn_error.py`` (bias, a
common shift, per-point residuals); the yaw that the model's draws give the exact points is set beside MTCNN's, so
the model is checked against what it models (and against independent per-point draws).

    python -m frontalize.bench.landmarks --root SYNTHPIE_TREE [--per-camera 200] [--markdown F] [--table F]

prints the tables (docs/mtcnn_landmark_error.md) and, with ``--table``, writes the model's table as Python.
The benchmark ``mtcnn_landmark_error`` renders its own `small` subjects and runs the same measurement.
"""
from __future__ import annotations

import argparse
import datetime
import json
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from frontalize.bench.registry import benchmark
from frontalize.data.align import frontal_transform, pose_transform, transform_points
from frontalize.data.images import read_rgb
from frontalize.data.multipie import CAMERA_BY_NAME, CAMERAS, FRONTAL_CAMERA, parse_filename
from frontalize.data.template import template_points
from frontalize.face.mtcnn_error import MEASURED_AT, LandmarkError, draw
from frontalize.geometry.pose import PoseError, crop_pose
from frontalize.synthpie.generate import landmark_path, read_sidecar

SIZE = MEASURED_AT
POINTS = ("left eye", "right eye", "nose", "left mouth", "right mouth")  # image-left first, MTCNN's order


def template_iod(size: int = SIZE) -> float:
    t = template_points(size)
    return float(np.linalg.norm(t[1] - t[0]))


@dataclass
class CameraErrors:
    images: int = 0
    errors: list = field(default_factory=list)  # (5, 2) per detected image, training-crop pixels at SIZE
    exact: list = field(default_factory=list)  # (5, 2) the exact points in the training crop
    yaw_exact: list = field(default_factory=list)  # the yaw training fits to the exact points
    yaw_mtcnn: list = field(default_factory=list)  # the yaw infer fits to MTCNN's (None: no pose fits)


def training_crop_matrix(five: np.ndarray, camera: str, size: int = SIZE) -> np.ndarray:
    """Preparation's alignment of exact landmarks: the five-point fit for the frontal camera, else the eye-mouth axis."""
    return frontal_transform(five, size) if camera == FRONTAL_CAMERA else pose_transform(five, size)


def _yaw(points: np.ndarray, camera: str | None) -> float | None:
    """The yaw fitted to crop landmarks: with the camera's prior as training fits it, or without (None) as infer does."""
    cam = CAMERA_BY_NAME[camera] if camera else None
    try:
        pose, _ = crop_pose(points, SIZE, True, cam.yaw if cam else None, cam.elevation if cam else 0.0)
    except PoseError:
        return None
    return pose.angles[0]


def measure(root: Path, paths: list[Path], detector, batch: int = 16) -> dict[str, CameraErrors]:
    from frontalize.inference.frontalizer import align

    root = Path(root)
    out: dict[str, CameraErrors] = defaultdict(CameraErrors)
    for i in range(0, len(paths), batch):
        chunk = paths[i: i + batch]
        for p, dets in zip(chunk, detector.detect([read_rgb(p) for p in chunk])):
            shot = parse_filename(p.name)
            m = out[shot.camera]
            m.images += 1
            if not dets:
                continue
            truth = np.asarray(read_sidecar(root / landmark_path(shot))["five"], np.float64)
            found = dets[0].five  # the best-scoring face, as preparation takes it
            a = training_crop_matrix(truth, shot.camera)
            m.exact.append(transform_points(truth, a))
            m.errors.append((found - truth) @ a[:, :2].T)
            m.yaw_exact.append(_yaw(m.exact[-1], shot.camera))
            m.yaw_mtcnn.append(_yaw(transform_points(found, align(found, SIZE)), None))
    return dict(out)


def error_model(errors: np.ndarray, yaw: int, detection_rate: float) -> LandmarkError:
    """face/mtcnn_error.py's model of (n, 5, 2) errors: bias, the common shift's spread, each point's about it."""
    shared = errors.mean(1)
    spread_of_shift = tuple(float(v) for v in np.round(shared.std(0, ddof=1), 2))
    return LandmarkError(yaw, round(detection_rate, 4), _rounded(errors.mean(0)), spread_of_shift,
                         _rounded((errors - shared[:, None]).std(0, ddof=1)))


def _rounded(a: np.ndarray) -> tuple:
    return tuple(tuple(float(v) for v in np.round(p, 2)) for p in a)


def summarise(measured: dict[str, CameraErrors], seed: int = 0) -> dict:
    """Per camera: detection rate, bias and spread per point (pixels at SIZE), the model, and the fitted yaw's error
    with MTCNN's points, with the model's draws, and with independent draws of each point's whole spread."""
    iod = template_iod()
    rng = np.random.default_rng(seed)
    table = {}
    for cam in (c for c in CAMERAS if c.name in measured):
        m = measured[cam.name]
        row = {"yaw": cam.yaw, "elevation": cam.elevation, "images": m.images, "detected": len(m.errors),
               "detection_rate": round(len(m.errors) / m.images, 4) if m.images else None}
        table[cam.name] = row
        if len(m.errors) < 2:
            continue
        e = np.stack(m.errors)
        model = error_model(e, cam.yaw, len(m.errors) / m.images)
        row["bias"] = [list(p) for p in model.bias]
        row["spread"] = np.round(e.std(0, ddof=1), 2).tolist()
        row["shared"] = list(model.shared)
        row["residual_spread"] = [list(p) for p in model.spread]
        row["median_error_px"] = round(float(np.median(np.linalg.norm(e, axis=2))), 2)
        row["median_error_iod"] = round(row["median_error_px"] / iod, 4)
        independent = LandmarkError(cam.yaw, 1.0, model.bias, (0.0, 0.0), _rounded(e.std(0, ddof=1)))
        row["yaw_error"] = {
            "mtcnn": _yaw_errors(m.yaw_exact, m.yaw_mtcnn),
            "model": _yaw_errors(m.yaw_exact, [_yaw(x + draw(model, rng), cam.name) for x in m.exact]),
            "independent": _yaw_errors(m.yaw_exact, [_yaw(x + draw(independent, rng), cam.name) for x in m.exact]),
        }
        row["fitted_within_7_5"] = round(float(np.mean([y is not None and abs(y) < 7.5 for y in m.yaw_mtcnn])), 4)
    return table


def _yaw_errors(exact: list, other: list) -> dict:
    d = np.array([o - e for e, o in zip(exact, other) if e is not None and o is not None])
    if not len(d):
        return {"n": 0}
    return {"n": int(len(d)), "mean": round(float(d.mean()), 2), "sd": round(float(d.std(ddof=1)) if len(d) > 1 else 0.0, 2),
            "median_abs": round(float(np.median(np.abs(d))), 2)}


def _yaw_label(r: dict) -> str:
    return f"{r['yaw']:+d}" + ("↑" if r["elevation"] else "")


def markdown(table: dict) -> str:
    iod = template_iod()
    head = "| camera | yaw | " + " | ".join(POINTS) + " |"
    rule = "|---|---|" + "---|" * len(POINTS)
    modelled = {c: r for c, r in table.items() if "bias" in r}

    def per_point(key: str, sign: str = "") -> list[str]:
        return [f"| {c} | {_yaw_label(r)} | " + " | ".join(f"{x:{sign}.1f}, {y:{sign}.1f}" for x, y in r[key]) + " |"
                for c, r in modelled.items()]

    lines = [f"Pixels of a {SIZE}-px training crop (exact landmarks aligned as preparation aligns them; 1 template "
             f"inter-ocular distance, IOD, = {iod:.1f} px); x right, y down; points in MTCNN's order (image-left first).",
             "", "**Detection and size of the error** (median over detected images and points of the point's distance; "
             "common shift: standard deviation of the five points' mean error)", "",
             "| camera | yaw | detected | median error (px) | median error (IOD) | common shift sd x, y (px) | "
             "fitted within ±7.5° (infer's frontal rule) |", "|---|---|---|---|---|---|---|"]
    for c, r in table.items():
        if c not in modelled:
            lines.append(f"| {c} | {_yaw_label(r)} | {r['detected']}/{r['images']} | | | | |")
            continue
        lines.append(f"| {c} | {_yaw_label(r)} | {r['detected']}/{r['images']} ({100 * r['detection_rate']:.0f} %) | "
                     f"{r['median_error_px']:.1f} | {r['median_error_iod']:.3f} | {r['shared'][0]:.1f}, {r['shared'][1]:.1f} | "
                     f"{100 * r['fitted_within_7_5']:.0f} % |")
    lines += ["", "**Bias** (mean error, x, y px)", "", head, rule, *per_point("bias", "+"),
              "", "**Spread** (standard deviation, x, y px)", "", head, rule, *per_point("spread"),
              "", "**Spread about the common shift** (the model's per-point residual, x, y px)", "", head, rule,
              *per_point("residual_spread"),
              "", "**Fitted yaw minus the yaw training fits to the exact points** (degrees, mean / sd): MTCNN's points "
              "aligned and fitted as `frontalize infer` does; the exact points with the model's error drawn; the exact "
              "points with each point's whole spread drawn independently.", "",
              "| camera | yaw | MTCNN | model | independent points |", "|---|---|---|---|---|"]
    for c, r in modelled.items():
        cells = [f"{y['mean']:+.1f} / {y['sd']:.1f}" if y.get("n") else "" for y in r["yaw_error"].values()]
        lines.append(f"| {c} | {_yaw_label(r)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def python_table(table: dict, command: str) -> str:
    """The model's table as it stands in face/mtcnn_error.py."""
    lines = [f"# measured {datetime.date.today().isoformat()}: {command}", "MTCNN_ERROR: dict[str, LandmarkError] = {"]
    for cam, r in table.items():
        if "bias" not in r:
            lines.append(f"    \"{cam}\": LandmarkError({r['yaw']}, {r['detection_rate']}, None, None, None),")
            continue
        bias = tuple(tuple(p) for p in r["bias"])
        spread = tuple(tuple(p) for p in r["residual_spread"])
        lines.append(f"    \"{cam}\": LandmarkError({r['yaw']}, {r['detection_rate']}, {bias},\n"
                     f"                         {tuple(r['shared'])}, {spread}),")
    lines.append("}")
    return "\n".join(lines)


@benchmark("mtcnn_landmark_error", "MTCNN's 5-point error against SynthPIE's exact points per camera (`small` subjects)")
def mtcnn_landmark_error(quick: bool) -> dict:
    from frontalize.face.detect import FaceDetector
    from frontalize.synthpie.generate import PRESETS, render_unit
    from frontalize.synthpie.realism import sample_images

    n_subjects = 3 if quick else 24
    preset = PRESETS["small"]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for subject in range(1, n_subjects + 1):
            for recording in preset.recordings:
                render_unit(root, preset, 0, subject, 1, recording)
        table = summarise(measure(root, sample_images(root, per_camera=10**6), FaceDetector()))
    errors = [r["median_error_iod"] for r in table.values() if "median_error_iod" in r]
    return {"mtcnn_landmark_error": round(float(np.median(errors)), 4), "subjects": n_subjects, "per_camera": table,
            "note": "headline: the median over cameras of each camera's median point error, in template inter-ocular "
                    "distances"}


def main(argv=None) -> int:
    from frontalize.face.detect import FaceDetector
    from frontalize.synthpie.realism import sample_images

    p = argparse.ArgumentParser(prog="python -m frontalize.bench.landmarks", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", type=Path, required=True, help="a SynthPIE tree (the folder holding data/)")
    p.add_argument("--per-camera", type=int, default=200, help="images sampled per camera (default 200)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, help="write the summary here")
    p.add_argument("--markdown", type=Path, help="write the tables here")
    p.add_argument("--table", type=Path, help="write the model's table (Python) here")
    args = p.parse_args(argv)
    paths = sample_images(args.root, args.per_camera, args.seed)
    if not paths:
        print(f"error: no SynthPIE images under {args.root}/data", file=sys.stderr)
        return 2
    table = summarise(measure(args.root, paths, FaceDetector()), args.seed)
    text = markdown(table)
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n")
    if args.json:
        args.json.write_text(json.dumps(table, indent=1))
    if args.table:
        command = "python -m frontalize.bench.landmarks " + " ".join(argv if argv is not None else sys.argv[1:])
        args.table.write_text(python_table(table, command) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
