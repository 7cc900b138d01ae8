"""`warp_losses`: where the geometric frontalization (the report's "warp only" row) loses, ranked (issue 20).

Five warps of setting1's test probes, each scored against the frontal target under the same flash and by rank-1:
  shipped     the pose estimated from the crop's five landmarks (upright prior) and the mean reference head:
              exactly the report's warp-only row
  true_pose   SynthPIE's true rotation relative to the target's, the mean head turned as the target shows it
              (geometry/oracle.py ``pose_as_target_shows``; only the translation fitted)
  own_head    the pose estimated as shipped, but of the subject's own head (an oracle shape, built as the mean is)
  oracles     both
  head_pose   the head's own true pose and the mean head (a diagnostic, quality only: the warp then shows the head
              from straight ahead, not turned as the recording turned it in the target too)
Quality (evaluation/quality.py ``RegionQuality``): SSIM and L1 on the face box and the whole crop, the face box's
SSIM split into what the input shows and what the warp mirrored, the crop's split inside and outside the mean
reference face (outside: hair, ears, neck, background); probes at 0 degrees are their own targets and are left out.
Rank-1 (evaluation/identification.py ``identify``, once per flash; a fixed subsample of RANK1_PER_YAW probes per yaw
and flash): the shared recognizer and the judge, the newest of each, when they exist (else the rank-1 part is
skipped, with the reason).  Also the estimated pose's error against the true ones, per yaw.  The tables of
docs/warp_losses.md: ``python -m frontalize.bench.warp_losses RESULT.json``.

Data (read only): ``FRONTALIZE_BENCH_DATA`` (default ``runs/demo``, as `make demo` leaves it) holds ``prepared/``
(setting1 manifest at 128 px) and ``synthpie/`` (the tree it came from: the sidecars); the recognizers are the
newest under ``FRONTALIZE_BENCH_RUNS`` (default ``runs``).  ``--quick``: 6 probes per yaw and flash.
"""
from __future__ import annotations

import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from frontalize.bench.registry import benchmark
from frontalize.data.manifest import ManifestMissing, read_manifest, row_landmarks
from frontalize.data.multipie import CAMERA_BY_NAME
from frontalize.evaluation.identification import Scorer, identify, subsample_probes
from frontalize.evaluation.quality import RegionQuality, mean_by
from frontalize.geometry.oracle import (CropView, OracleError, pose_as_target_shows, sidecar_of, subject_reference,
                                       true_pose)
from frontalize.geometry.pose import Pose, crop_pose, estimate_pose
from frontalize.geometry.reference import ReferenceFace, reference_face
from frontalize.geometry.warp import FrontalWarp, Warped
from frontalize.pipeline.recognizer import JUDGE
from frontalize.preparation.prep import dataset_identity
from frontalize.recognition.recognizer import Recognizer
from frontalize.runs import provenance
from frontalize.runs.folders import RECOGNIZER, newest_recognizer
from frontalize.synthpie.generate import MARKER

PROTOCOL, SIZE = "setting1", 128
VARIANTS: dict[str, tuple[str, bool]] = {  # name: (pose, own head)
    "shipped": ("estimated", False),
    "true_pose": ("camera", False),
    "own_head": ("estimated", True),
    "oracles": ("camera", True),
    "head_pose": ("head", False),
}
QUALITY = ["ssim_face", "ssim_face_seen", "ssim_face_mirrored", "mirrored_share", "ssim_crop", "ssim_ref_face",
           "ssim_outside_ref", "l1_face", "l1_face_seen", "l1_face_mirrored", "l1_crop", "l1_ref_face", "l1_outside_ref"]
RANK1_VARIANTS = ("shipped", "true_pose", "own_head", "oracles")  # head_pose: a diagnostic of the targets, quality only
QUICK_PER_YAW = 6  # probes per yaw and flash
# rank-1 in the full run: a fixed third of setting1's probes (50 of 149 per yaw and flash); every one of them is
# embedded ten times (raw and four warps, by two recognizers), the CPU time of this benchmark
RANK1_PER_YAW = 50


class WarpVariants:
    """The warps of a batch of manifest rows for each variant: their poses and reference faces (fitted and built once
    per view: a view's flashes share its landmarks), and the last batch each variant made (the quality observer
    reads its visibility)."""

    def __init__(self, synthpie_root: Path, seed: int, size: int, device, rows: list[dict]):
        self.root, self.seed, self.size, self.device = Path(synthpie_root), seed, size, device
        self.by_crop = {r["crop_path"]: r for r in rows}  # the targets' rows: their landmarks and sources
        self._warps: dict[tuple, FrontalWarp] = {}
        self._geometry: dict[tuple, tuple[Pose, tuple]] = {}
        self._last: dict[str, tuple[tuple, Warped]] = {}

    def _reference(self, own: bool, subject: int) -> ReferenceFace:
        return subject_reference(self.seed, subject, self.size) if own else reference_face(self.size)

    def _warp(self, key: tuple, reference: ReferenceFace) -> tuple:
        if key not in self._warps:
            self._warps[key] = FrontalWarp(self.size, reference).to(self.device)
        return key

    def crop_view(self, row: dict) -> CropView:
        return CropView(sidecar_of(self.root, row["source_path"]), row["camera"], row_landmarks(row))

    def geometry(self, variant: str, row: dict) -> tuple[Pose, tuple]:
        """The row's pose for ``variant`` and the key of the warp (reference face) it goes with."""
        kind, own = VARIANTS[variant]
        subject = int(row["subject"])
        target = self.by_crop.get(row["target_path"]) if kind == "camera" else None
        if kind == "camera" and target is None:  # no target to turn the reference as (none in SynthPIE)
            kind = "head"
        key = (kind, own, subject, row["recording"], row["camera"], row["landmarks"], target["landmarks"] if target else "")
        if key not in self._geometry:
            ref, lm, camera = self._reference(own, subject), row_landmarks(row), CAMERA_BY_NAME[row["camera"]]
            warp = self._warp((own, subject) if own else ("mean",), ref)
            if kind == "camera":
                pose, posed = pose_as_target_shows(self.crop_view(row), self.crop_view(target), self.size, ref)
                warp = self._warp(("turned", own, subject, target["recording"], target["camera"], target["landmarks"]), posed)
            elif kind == "head":
                pose = true_pose(self.crop_view(row), self.size, ref)
            elif own:
                pose = estimate_pose(lm, self.size, camera.elevation, reference=ref)
            else:  # as the report's warp row: geometry/pose.py row_poses
                pose = crop_pose(lm, self.size, exact=True, yaw=camera.yaw, elevation=camera.elevation)[0]
            self._geometry[key] = (pose, warp)
        return self._geometry[key]

    def warped(self, variant: str, x: torch.Tensor, rows: list[dict]) -> Warped:
        """Each row warped by its variant's pose and reference; rows that share a reference go together."""
        geometry = [self.geometry(variant, r) for r in rows]
        poses = torch.from_numpy(np.stack([pose.as_vector() for pose, _ in geometry])).to(x.device)
        groups = defaultdict(list)
        for i, (_, key) in enumerate(geometry):
            groups[key].append(i)
        fields = {name: [None] * len(rows) for name in ("picture", "visible", "grid", "seen", "known")}
        for key, idx in groups.items():
            w = self._warps[key](x[idx], poses[idx])
            for name, column in fields.items():
                for j, i in enumerate(idx):
                    column[i] = getattr(w, name)[j]
        out = Warped(**{name: torch.stack(column) for name, column in fields.items()})
        self._last[variant] = (tuple(r["crop_path"] for r in rows), out)
        return out

    def view(self, variant: str):
        return lambda x, rows: self.warped(variant, x, rows).picture

    def seen(self, variant: str):
        def last_seen(rows: list[dict]) -> torch.Tensor:
            keys, warped = self._last[variant]
            if keys != tuple(r["crop_path"] for r in rows):
                raise RuntimeError(f"the {variant} warp's last batch is not these rows")
            return warped.seen

        return last_seen

    def pose_errors(self) -> dict:
        """Per yaw, median |difference| (degrees) of the shipped pose's yaw, pitch and roll from the head's true pose
        (``head``) and from the rotation relative to the target (``camera``, what the warp should use)."""
        out = {}
        for kind in ("head", "camera"):
            errors = defaultdict(list)
            for (k, own, subject, recording, camera, landmarks, _), (pose, _) in self._geometry.items():
                if k != kind or own:
                    continue
                shipped = self._geometry.get(("estimated", False, subject, recording, camera, landmarks, ""))
                if shipped is not None:
                    errors[CAMERA_BY_NAME[camera].yaw].append(np.subtract(shipped[0].angles, pose.angles))
            out[kind] = {yaw: {"yaw": _median_abs(e, 0), "pitch": _median_abs(e, 1), "roll": _median_abs(e, 2),
                               "views": len(e)} for yaw, e in sorted(errors.items())}
        return out


def _median_abs(errors: list, axis: int) -> float:
    return round(float(np.median(np.abs(np.asarray(errors)[:, axis]))), 2)


def _scorers(runs: Path, manifest, size: int, views: tuple[str, ...]) -> tuple[list[Scorer], dict]:
    """The newest shared recognizer and judge under ``runs`` that did not train on setting1's test subjects."""
    scorers, notes = [], {}
    tested = manifest.subjects("test")
    for name, kind in (("", RECOGNIZER), ("judge", JUDGE)):
        label = name or "shared"
        path = newest_recognizer(runs, kind)
        if path is None:
            notes[label] = f"none under {runs / kind}"
            continue
        state = torch.load(path, map_location="cpu", weights_only=True)
        try:
            record = provenance.record_of(state, path, "recognizer")
            provenance.check_clean(label, path, record, PROTOCOL, tested, manifest.dataset, size)
            notes[label] = f"{path} ({record.describe()})"
        except provenance.Unrecorded:
            notes[label] = f"{path} (no training record)"
        except provenance.Contaminated as e:
            notes[label] = f"refused: {e}"
            continue
        scorers.append(Scorer(name, Recognizer.load(path), views=views))
    return scorers, notes


def _combine_flashes(by_flash: dict[int, dict]) -> dict:
    """identify's per-yaw tables of each flash -> one over all flashes (means weighted by probes)."""
    hits, probes = defaultdict(lambda: defaultdict(float)), defaultdict(int)
    for table in by_flash.values():
        for yaw, entry in table.items():
            n = entry["probes"]
            probes[yaw] += n
            for column, value in entry.items():
                if column != "probes":
                    hits[yaw][column] += value * n
    return {yaw: {**{c: v / probes[yaw] for c, v in hits[yaw].items()}, "probes": probes[yaw]} for yaw in probes}


def measure(prepared: Path, synthpie_root: Path, runs: Path, per_yaw: int | None, rank1_per_yaw: int | None = None,
            size: int = SIZE, device: str = "cpu", progress: bool = False) -> dict:
    """Every variant's quality and rank-1 on setting1's test probes.

    Two passes through ``identify``, once per flash each: quality on ``per_yaw`` probes per yaw and flash (all when
    None), no recognizer; rank-1 on a fixed subsample of ``rank1_per_yaw`` of them (all when None), the shared
    recognizer and the judge scoring the raw probes and the four main variants (``head_pose`` is quality only).
    """
    t0 = time.perf_counter()
    manifest = read_manifest(prepared, PROTOCOL, size)
    if not (Path(synthpie_root) / MARKER).exists():
        raise OracleError(f"{synthpie_root} is not a SynthPIE tree (no {MARKER}): the oracles need its sidecars")
    tree = dataset_identity(Path(synthpie_root) / "data")
    if tree != manifest.dataset:
        raise OracleError(f"{synthpie_root} holds {tree}, the manifest was prepared from {manifest.dataset}")
    seed = int(json.loads((Path(synthpie_root) / MARKER).read_text())["seed"])
    dev = torch.device(device)
    variants = WarpVariants(synthpie_root, seed, size, dev, manifest.rows)
    scorers, recognizers = _scorers(Path(runs), manifest, size, views=("raw", *RANK1_VARIANTS))
    quality = RegionQuality(prepared, size, device, list(VARIANTS), {v: variants.seen(v) for v in VARIANTS},
                            reference_face(size).face)
    test = [r for r in manifest.rows if r["split"] == "test"]
    gallery = [r for r in test if r["role"] == "gallery"]
    flashes = sorted({int(r["flash"]) for r in test if r["role"] == "probe"})
    probes = {f: subsample_probes([r for r in test if r["role"] == "probe" and int(r["flash"]) == f], per_yaw) for f in flashes}
    seconds, rank1 = {}, {}
    for flash in flashes:
        identify(gallery + probes[flash], prepared, size, dev, [], PROTOCOL, views={v: variants.view(v) for v in VARIANTS},
                 observers=(quality,), progress=progress)
    seconds["quality"] = round(time.perf_counter() - t0, 1)
    if scorers:
        for flash in flashes:
            result = identify(gallery + probes[flash], prepared, size, dev, scorers, PROTOCOL,
                              views={v: variants.view(v) for v in RANK1_VARIANTS}, per_yaw=rank1_per_yaw, progress=progress)
            rank1[flash] = {int(k): v for k, v in result["table"].items() if k != "all"}  # setting1: no raised column
        rank1["all"] = _combine_flashes(rank1)
    seconds["rank1"] = round(time.perf_counter() - t0 - seconds["quality"], 1)
    by_flash = mean_by(quality.records, ("view", "flash", "yaw"), QUALITY)
    all_flashes = mean_by(quality.records, ("view", "yaw"), QUALITY)
    quality_table = {v: {"all": {}, **{f: {} for f in flashes}} for v in VARIANTS}
    for (v, f, yaw), entry in by_flash.items():
        quality_table[v][f][yaw] = entry
    for (v, yaw), entry in all_flashes.items():
        quality_table[v]["all"][yaw] = entry
    return {
        "quality": quality_table,
        "rank1": rank1,
        "pose_error_deg": variants.pose_errors(),
        "recognizers": recognizers,
        "quality_probes": len(quality.records) // len(VARIANTS),
        "rank1_probes": {str(f): sum(e["probes"] for e in table.values()) for f, table in rank1.items()},
        "per_yaw": per_yaw,
        "rank1_per_yaw": rank1_per_yaw,
        "data": {"prepared": str(prepared), "synthpie": str(synthpie_root), "dataset": manifest.dataset},
        "seconds": seconds,
        "notes": "quality over probes with a target other than themselves (0 degrees left out: a probe there is its own "
                 "target); seen / mirrored: the face box's SSIM map split by each variant's own hard visibility; "
                 "ref_face / outside_ref: the whole crop's SSIM map split by the mean reference's face mask; "
                 "per_yaw and rank1_per_yaw count probes per yaw and flash (null: all)",
    }


def _headline(result: dict) -> float:
    """The shipped warp's face SSIM at -45 and +45 (their mean, all flashes)."""
    cols = result["quality"]["shipped"]["all"]
    return round(float(np.mean([cols[y]["ssim_face"] for y in (-45, 45)])), 4)


@benchmark("warp_losses", "warp-only quality and rank-1 on setting1's test probes with the estimated / true pose and the "
           "mean / own head, by yaw, flash and region (needs prepared SynthPIE small and its tree)")
def warp_losses(quick: bool) -> dict:
    # one thread: this benchmark runs many small tensor operations (a warp per subject's reference), and on a
    # shared 2-core machine a second thread mostly waits for the first (measured under load: the warp of 2 crops
    # 8 ms with one thread, 470 ms with two)
    torch.set_num_threads(1)
    data = Path(os.environ.get("FRONTALIZE_BENCH_DATA", "runs/demo"))
    runs = Path(os.environ.get("FRONTALIZE_BENCH_RUNS", "runs"))
    try:
        result = measure(data / "prepared", data / "synthpie", runs, QUICK_PER_YAW if quick else None,
                         QUICK_PER_YAW if quick else RANK1_PER_YAW)
    except (ManifestMissing, OracleError) as e:
        return {"skipped": f"{e} (set FRONTALIZE_BENCH_DATA to a folder with prepared/ and synthpie/)"}
    return {"warp_losses": _headline(result), **result}


# ------------------------------------------------------------------------------------------- the docs' tables
LABELS = {"shipped": "shipped (estimated pose, mean head)", "true_pose": "true pose, mean head",
          "own_head": "estimated pose, own head", "oracles": "true pose, own head",
          "head_pose": "head's own true pose, mean head"}
METRICS = {"ssim_face": "face SSIM", "ssim_crop": "crop SSIM", "l1_face": "face L1", "l1_crop": "crop L1"}
REGIONS = {"ssim_face_seen": "face box, seen", "ssim_face_mirrored": "face box, mirrored",
           "mirrored_share": "share mirrored", "ssim_ref_face": "crop, in ref. face", "ssim_outside_ref": "crop, outside"}


def _yaw_label(yaw) -> str:
    yaw = int(yaw)
    return f"+{yaw}" if yaw > 0 else str(yaw)


def _cell(value, percent: bool = False) -> str:
    if value is None:
        return "–"
    return f"{100 * value:.1f}" if percent else f"{value:.3f}"


def _yaws(table: dict) -> list:
    return sorted(table, key=int)


def _keyed(table: dict) -> dict:
    """JSON turns int keys into strings; make both spellings reachable as strings."""
    return {str(k): v for k, v in table.items()}


def quality_rows(result: dict, metrics: dict, flash: str = "all", variants=tuple(VARIANTS)) -> list[str]:
    quality = {v: _keyed(result["quality"][v]) for v in variants}
    yaws = _yaws(_keyed(quality[variants[0]][flash]))
    lines = [f"| variant | | {' | '.join(_yaw_label(y) for y in yaws)} |", f"|---|---|{'---|' * len(yaws)}"]
    for v in variants:
        cols = _keyed(quality[v][flash])
        for m, name in metrics.items():
            lines.append(f"| {LABELS[v]} | {name} | {' | '.join(_cell(cols[y][m]) for y in yaws)} |")
    return lines


def by_flash_rows(result: dict, metric: str, variants=tuple(VARIANTS)) -> list[str]:
    quality = {v: _keyed(result["quality"][v]) for v in variants}
    flashes = [f for f in quality[variants[0]] if f != "all"]
    yaws = _yaws(_keyed(quality[variants[0]]["all"]))
    lines = [f"| variant | flash | {' | '.join(_yaw_label(y) for y in yaws)} |", f"|---|---|{'---|' * len(yaws)}"]
    for v in variants:
        for f in flashes:
            cols = _keyed(quality[v][f])
            lines.append(f"| {LABELS[v]} | {int(f):02d} | {' | '.join(_cell(cols.get(y, {}).get(metric)) for y in yaws)} |")
    return lines


def gain_rows(result: dict, yaws=(-45, -30, 30, 45)) -> list[str]:
    """Each variant's gain over the shipped warp, per flash and region, at the given yaws (their mean)."""
    shipped = _keyed(result["quality"]["shipped"])
    flashes = [f for f in shipped if f != "all"] + ["all"]
    metrics = {"ssim_face": "face", "ssim_face_seen": "seen", "ssim_face_mirrored": "mirrored", "ssim_crop": "crop",
               "ssim_ref_face": "in ref. face", "ssim_outside_ref": "outside"}
    lines = [f"| variant | flash | {' | '.join(metrics.values())} |", f"|---|---|{'---|' * len(metrics)}"]
    for v in VARIANTS:
        if v == "shipped":
            continue
        mine = _keyed(result["quality"][v])
        for f in flashes:
            cells = []
            for m in metrics:
                a = [_keyed(mine[f])[str(y)][m] for y in yaws]
                b = [_keyed(shipped[f])[str(y)][m] for y in yaws]
                cells.append(f"{np.mean(a) - np.mean(b):+.3f}" if None not in a + b else "–")
            lines.append(f"| {LABELS[v]} | {f if f == 'all' else f'{int(f):02d}'} | {' | '.join(cells)} |")
    return lines


def rank1_rows(result: dict, flash: str = "all") -> list[str]:
    table = _keyed(_keyed(result["rank1"])[flash])
    yaws = _yaws(table)
    present = [c for c in table[yaws[0]] if c != "probes"]
    if not present:
        return []
    lines = [f"| view | recognizer | {' | '.join(_yaw_label(y) for y in yaws)} | all |", f"|---|---|{'---|' * (len(yaws) + 1)}"]
    total = sum(table[y]["probes"] for y in yaws)
    for scorer, suffix in (("shared", ""), ("judge", "_judge")):
        for view in ("raw", *VARIANTS):
            c = view + suffix
            if c not in present:
                continue
            overall = sum(table[y][c] * table[y]["probes"] for y in yaws) / total
            lines.append(f"| {LABELS.get(view, view)} | {scorer} | {' | '.join(_cell(table[y][c], True) for y in yaws)} | "
                         f"{_cell(overall, True)} |")
    return lines


def pose_rows(result: dict) -> list[str]:
    errors = {k: _keyed(v) for k, v in result["pose_error_deg"].items()}
    yaws = _yaws(errors["head"])
    lines = [f"| shipped pose vs | angle | {' | '.join(_yaw_label(y) for y in yaws)} |", f"|---|---|{'---|' * len(yaws)}"]
    names = {"head": "head's true pose", "camera": "rotation relative to the target"}
    for kind, name in names.items():
        for angle in ("yaw", "pitch", "roll"):
            lines.append(f"| {name} | {angle} | {' | '.join(f'{errors[kind][y][angle]:.1f}' for y in yaws)} |")
    return lines


def markdown(result: dict) -> str:
    """The tables of docs/warp_losses.md, from one run's result."""
    parts = ["### Quality against the frontal target, all flashes", *quality_rows(result, METRICS), "",
             "### Gain over the shipped warp at -45, -30, +30, +45 (mean of the four columns), by flash and region",
             *gain_rows(result), "",
             "### SSIM by region, all flashes", *quality_rows(result, REGIONS), "",
             "### Face SSIM by flash", *by_flash_rows(result, "ssim_face"), "",
             "### Crop SSIM by flash", *by_flash_rows(result, "ssim_crop"), "",
             "### Mirrored-part SSIM (face box) by flash", *by_flash_rows(result, "ssim_face_mirrored"), "",
             "### Outside the reference face (crop) SSIM by flash", *by_flash_rows(result, "ssim_outside_ref"), ""]
    rank1 = rank1_rows(result)
    if rank1:
        parts += ["### Rank-1 %, all flashes", *rank1, ""]
        for flash in [f for f in _keyed(result["rank1"]) if f != "all"]:
            parts += [f"### Rank-1 %, flash {int(flash):02d}", *rank1_rows(result, flash), ""]
    parts += ["### Pose: median |shipped - true| (degrees)", *pose_rows(result), ""]
    return "\n".join(parts)


def main(argv=None) -> int:
    import argparse

    p = argparse.ArgumentParser(description="Print the warp_losses benchmark's tables as Markdown.")
    p.add_argument("json", type=Path, help="the runner's --json file (or a bare result)")
    args = p.parse_args(argv)
    doc = json.loads(args.json.read_text())
    result = doc.get("results", {}).get("warp_losses", doc)
    if "skipped" in result or "error" in result:
        print(f"no tables: {result.get('skipped') or result.get('error')}", file=sys.stderr)
        return 1
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
