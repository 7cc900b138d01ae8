"""Where the warp loses identity on real faces: Pointing'04 rank-1 (dlib) of the shipped warp and of the same warp
with one of its parts taken away or changed, on full frames and tight crops, in one pass (docs/real_faces.md).

    python -m frontalize.bench.real_losses --out runs/real_losses [--root DIR] [--limit N]

Each variant is the shipped warp-only frontalizer (inference/frontalizer.py) with one thing changed:
  shipped           as ``frontalize infer --warp-only`` runs: 128 px, the mean head, the pose fitted to MTCNN's points
  256 px            the same geometry at 256 px: how much the output's resolution costs dlib
  no context        MTCNN on the photo as it is, without the grey margin (face/detect.py)
  stretched edge    pixels beyond the photo's edge sampled from its stretched border, as before
  debiased pose     the pose fitted to MTCNN's points with their drift towards frontal taken out
  no occlusion      what lies beyond the face not hidden where the face covers it (ghost faces)
  no mirror         hidden points filled from around them instead of from their mirror
  fitted head       the reference head fitted to dlib's 68 points within +-45 degrees (geometry/shape.py)
  68-point pose     the mean head's pose fitted to dlib's 51 inner points (no jawline) where the five-point yaw is
                    within +-45 degrees, where those points hold on real faces; the five-point pose beyond
  skin fill         what no side shows filled with the skin from the skin and the scalp from the hair around it
                    (shipped: the whole head from the face, a bald scalp where a tight crop ends)
  label yaw         an oracle: the pose's yaw set to the probe's label (``x0.85``: 0.85 of it), pitch and roll
                    from the five-point fit, position and size refitted to MTCNN's points as found; what a
                    perfect yaw estimator would give this warp (Pointing'04's labels are read, nothing chosen)
  full-frame points  an oracle: tight crops get the five points MTCNN finds in the full frame, carried into the
                    crop (full frames: the shipped warp); what the crop's missing context costs the points, apart
                    from the pixels it does not show
The raw row is each probe's own photo, described once.  Rank-1 differences against ``shipped`` rank what each part
is worth; fitted yaw against the label and the probes each variant could not process are in the same report.
Measuring only: Pointing'04 never chooses a weight (its README).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from tqdm import tqdm

from frontalize.data.images import read_photo
from frontalize.data.pointing04 import default_root, read_frames, split
from frontalize.evaluation.real_faces import (
    ALL, CONDITIONS, Pipeline, RealFaceTally, as_condition, describe_probe, gallery_descriptors,
)
from frontalize.evaluation.real_faces_report import heading, write_real_face_report

SHIPPED = "shipped"


def label_yaw_frontalizer(factor: float, device: str = "cpu"):
    """A warp-only frontalizer whose pose turns the head to ``factor`` x the probe's labelled yaw (``label``, set
    before each probe), keeping the fitted pitch and roll and refitting where the head sits to the five points."""
    from frontalize.geometry.pose import crop_pose, pose_with_rotation, rotation_from_angles
    from frontalize.inference.frontalizer import Frontalizer

    class LabelYaw(Frontalizer):
        label: float = 0.0

        def see(self, frame, rgb) -> None:
            self.label = float(frame.yaw)

        def pose(self, five):
            _, pitch, roll = crop_pose(five, self.size)[0].angles
            return pose_with_rotation(rotation_from_angles(factor * self.label, pitch, roll), five, self.size)

    return LabelYaw(None, device)


def full_frame_points_frontalizer(device: str = "cpu"):
    """A warp-only frontalizer that is given, in either condition, the face MTCNN finds in the probe's *full frame*
    (``see``, before each probe), carried into the picture it frontalizes (a tight crop: by the crop's matrix); an
    oracle that parts the tight crops' loss into the five points found without the frame's context, and the pixels
    the crop does not show."""
    from frontalize.data.align import transform_points
    from frontalize.data.pointing04 import tight_crop
    from frontalize.face.detect import Detection
    from frontalize.inference.frontalizer import Frontalizer

    class FullFramePoints(Frontalizer):
        found: dict  # set by see(): picture shape -> the full frame's detections in that picture's pixels

        def see(self, frame, rgb) -> None:
            full = super().detect(rgb)
            tight, m = tight_crop(rgb, frame.face_box)
            carried = [Detection(transform_points(d.box.reshape(2, 2), m).ravel(), d.score, transform_points(d.five, m))
                       for d in full]
            self.found = {rgb.shape: full, tight.shape: carried}

        def detect(self, rgb):
            return self.found[rgb.shape]

    return FullFramePoints(None, device)


def variants(device: str = "cpu") -> list[Pipeline]:
    from frontalize.face.detect import FaceDetector
    from frontalize.geometry.warp import FrontalWarp
    from frontalize.inference.frontalizer import Frontalizer

    def engine(size: int = 128, debias: bool = False, warp: dict | None = None, detector=None, edges: bool = True,
               fit_heads: bool = False, pose68: bool = False):
        e = Frontalizer(None, device, size=size, debias=debias, fit_heads=fit_heads, pose68=pose68)
        if warp is not None:
            e.warp = FrontalWarp(size, **warp).to(e.device)
        if detector is not None:
            e.detector = detector
        e.edges = edges
        return e

    shipped = engine()
    share = lambda e: (setattr(e, "detector", shipped.detector), e)[1]  # noqa: E731  one MTCNN pass per probe
    return [Pipeline(SHIPPED, shipped),
            Pipeline("256 px", share(engine(size=256))),
            Pipeline("no context", engine(detector=FaceDetector(device=device, context=0.0))),
            Pipeline("stretched edge", share(engine(edges=False))),
            Pipeline("debiased pose", share(engine(debias=True))),
            Pipeline("no occlusion", share(engine(warp={"background_occlusion": False}))),
            Pipeline("no mirror", share(engine(warp={"mirror": False}))),
            Pipeline("fitted head", share(engine(fit_heads=True))),
            Pipeline("68-point pose", share(engine(pose68=True))),
            Pipeline("skin fill", share(engine(warp={"fill_from_skin": True}))),
            Pipeline("label yaw", share(label_yaw_frontalizer(1.0, device))),
            Pipeline("label yaw x0.85", share(label_yaw_frontalizer(0.85, device))),
            Pipeline("full-frame points", full_frame_points_frontalizer(device))]


def losses_markdown(tally: RealFaceTally, names: list[str], base: str = SHIPPED) -> str:
    """Per condition: each variant's rank-1 by |yaw| and its difference from ``base`` (the shipped warp), ranked by
    "all"."""
    lines = []
    for condition in CONDITIONS:
        if condition not in tally.views:
            continue
        table = tally.table(condition)
        keys = tally.keys(condition)
        ranked = sorted([n for n in names if n != base], key=lambda n: table[n][ALL]["rate"])
        lines += [f"#### {condition}: rank-1 (%) and the change against {base} (points)", "",
                  "| variant | " + " | ".join(heading(k) for k in keys) + " |", "|---|" + "---|" * len(keys)]
        for n in ["raw", base, *ranked]:
            cells = []
            for k in keys:
                rate = 100 * table[n][k]["rate"]
                delta = rate - 100 * table[base][k]["rate"]
                cells.append(f"{rate:.1f}" if n in ("raw", base) else f"{rate:.1f} ({delta:+.1f})")
            lines.append(f"| {n} | " + " | ".join(cells) + " |")
        lines.append("| probes | " + " | ".join(str(table[base][k]["probes"]) for k in keys) + " |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    from frontalize.face.dlib_identity import DlibJudge

    p = argparse.ArgumentParser(prog="python -m frontalize.bench.real_losses", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", type=Path, default=None, help="Pointing'04 copy (default: the vendored tilt-0 frames)")
    p.add_argument("--out", type=Path, default=Path("runs/real_losses"))
    p.add_argument("--limit", type=int, default=None, help="only the first N probes (a smoke run)")
    p.add_argument("--variants", nargs="+", default=None, metavar="NAME",
                   help="only these variants beside the shipped warp (default: all)")
    args = p.parse_args(argv)
    frames = read_frames(args.root or default_root()).frames
    gallery, probes = split(frames)
    probes = probes[: args.limit] if args.limit else probes
    judge = DlibJudge()
    pipelines = variants()
    if args.variants:
        unknown = set(args.variants) - {q.name for q in pipelines}
        if unknown:
            p.error(f"no variant {sorted(unknown)}; the variants: {[q.name for q in pipelines]}")
        pipelines = [q for q in pipelines if q.name == SHIPPED or q.name in args.variants]
    names = [q.name for q in pipelines]
    tally = RealFaceTally(gallery_descriptors(judge, gallery, CONDITIONS))
    for frame in tqdm(probes, desc="variants", unit="probe"):
        rgb = read_photo(frame.path)
        for q in pipelines:
            if hasattr(q.engine, "see"):  # the oracles: told the probe's label, or its full frame's face
                q.engine.see(frame, rgb)
        for c in CONDITIONS:
            tally.add(describe_probe(judge, as_condition(frame, rgb, c), pipelines), ["raw", *names])
    header = [f"{len(probes)} probes of {len(gallery)} people; warp-only variants (frontalize/bench/real_losses.py)."]
    paths = write_real_face_report(tally, args.out, header, {}, names, name="pointing04_variants")
    text = losses_markdown(tally, names)
    (args.out / "losses.md").write_text(text)
    (args.out / "fitted.json").write_text(json.dumps({c: tally.fitted_yaw(c) for c in CONDITIONS}, indent=1))
    print(text)
    print("wrote", ", ".join(str(v) for v in paths.values()), args.out / "losses.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
