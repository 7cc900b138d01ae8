"""The identity report of a generator checkpoint: which networks and data, then identification and the files.

Defaults follow the checkpoint: its protocol, its prepared data, and the recognizer its identity loss
used (one recognizer serves training and evaluation), else the newest trained one.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from frontalize.data.manifest import read_manifest
from frontalize.evaluation.identification import Scorer, generator_view, identify, warp_view
from frontalize.evaluation.quality import TargetQuality
from frontalize.evaluation.report import write_report
from frontalize.inference.frontalizer import load_generator
from frontalize.recognition.recognizer import Recognizer
from frontalize.runs.folders import NoCheckpoint, newest_generator_checkpoint, newest_recognizer


def training_recognizer(cfg) -> Path | None:
    """The recognizer the generator's identity loss used, if it still exists."""
    path = cfg.loss.recognizer
    return Path(path) if cfg.loss.identity_features == "recognizer" and path and Path(path).exists() else None


@dataclass
class ReportRequest:
    checkpoint: Path | None = None  # None: the newest GAN run's best, else latest
    protocol: str | None = None  # None: the checkpoint's
    recognizer: Path | None = None  # None: the one the generator trained with, else the newest
    recognizer_arch: str | None = None  # for a bare arcface_torch backbone.pth
    competitor: Path | None = None  # a recognizer trained on every pose
    judge: Path | None = None  # an independent recognizer (another architecture and seed) that no training loss used
    baseline: Path | None = None  # a second generator checkpoint, e.g. without geometry, reported beside the first
    warp_only: bool = True  # the geometric frontalization alone, as a row (needs landmarks in the manifest)
    prepared: Path | None = None  # None: the checkpoint's
    out: Path | None = None  # None: <run>/report
    flip: bool = False
    per_yaw: int | None = None
    device: str = "cpu"
    runs_dir: Path = Path("runs")
    progress: bool = True


@dataclass
class Report:
    result: dict
    paths: dict[str, Path]
    title: str
    protocol: str
    checkpoint: Path
    setting: str


def identity_report(req: ReportRequest) -> Report:
    device = torch.device(req.device)
    checkpoint = req.checkpoint or newest_generator_checkpoint(req.runs_dir)
    generator, cfg = load_generator(checkpoint, device)
    rec_path = req.recognizer or training_recognizer(cfg) or newest_recognizer(req.runs_dir)
    if rec_path is None:
        raise NoCheckpoint("no trained recognizer: python scripts/train_recognizer.py --config configs/recognizer_synthpie.yaml")
    shared = Scorer("", Recognizer.load(rec_path, arch=req.recognizer_arch).to(device))
    scorers = [shared]
    if req.judge:
        scorers.append(Scorer("judge", Recognizer.load(req.judge).to(device)))
    if req.competitor:
        scorers.append(Scorer("all_pose", Recognizer.load(req.competitor).to(device), views=("raw",)))
    protocol = req.protocol or cfg.data.protocol
    prepared = req.prepared or Path(cfg.data.prepared)
    size = cfg.data.size
    manifest = read_manifest(prepared, protocol, size)
    views = {"frontalized": generator_view(generator)}
    if req.baseline:
        baseline, baseline_cfg = load_generator(req.baseline, device)
        if baseline_cfg.data.size != size:
            raise ValueError(f"the baseline generator works at {baseline_cfg.data.size} px, the checkpoint at {size} px")
        views["baseline"] = generator_view(baseline)
    if req.warp_only and all(r.get("landmarks") for r in manifest.rows[:1]):
        views["warp"] = warp_view(size, device)
    quality = TargetQuality(shared, prepared, size, device, flip=req.flip, gallery_flash=manifest.gallery_flash,
                            views=[v for v in ("frontalized", "baseline", "warp") if v in views])
    result = identify(manifest.rows, prepared, size, device, scorers, views=views,
                      fusions={"fused": ("raw", "frontalized"), "warp_fused": ("raw", "warp")},
                      observers=(quality,), flip=req.flip, per_yaw=req.per_yaw, progress=req.progress)
    run = checkpoint.parent.parent
    title = (f"{cfg.setting} (geometry: {cfg.model.geometry}) on {protocol} ({run.name}/{checkpoint.name}), "
             f"recognizer {Path(rec_path).parent.name}" + (f", judge {Path(req.judge).parent.name}" if req.judge else ""))
    paths = write_report(result, req.out or run / "report", protocol, title, quality.samples)
    return Report(result, paths, title, protocol, checkpoint, cfg.setting)


def log_report(report: Report, mode: str, project: str, init_timeout: int) -> None:
    """The report's table, chart and samples to W&B."""
    from frontalize.runs.tracking import Tracker

    tracker = Tracker(report.paths["json"].parent, project, report.setting, f"eval-{report.setting}-{report.protocol}", mode,
                      {"checkpoint": str(report.checkpoint)}, init_timeout)
    table = report.result["table"]
    columns = [c for c in next(iter(table.values())) if c != "probes"]
    tracker.log_table(0, f"rank1_{report.protocol}", ["yaw", *columns, "probes"],
                      [[str(k), *[v.get(c) for c in columns], v["probes"]] for k, v in table.items()])
    tracker.log_images(0, {k: v for k, v in report.paths.items() if k in ("chart", "samples")})
    tracker.finish()
