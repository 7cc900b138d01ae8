"""The identity report of a generator checkpoint: which networks and data, then identification and the files.

Defaults follow the checkpoint: its protocol, its prepared data, and the recognizer its identity loss
used (one recognizer serves training and evaluation), else the newest trained one that suits the protocol.
Without ``--checkpoint`` the generator is the newest one that suits the protocol asked for.

Every network the figures come from (generator, shared recognizer, judge, all-pose competitor, baseline
generator) is checked against its training record before anything is measured: one that trained on, or chose
its checkpoint with, a subject the protocol tests is refused, naming the overlap, and so is one trained at
another crop size, and one whose record cannot show whom it saw unless the user declared it external
(``external``, runs/provenance.py).  Manifests that do not say whose people they are are refused.  The judge must
be independent (pipeline/judging.py).  The report's header names each network and its training data, how the judge
differs from the shared recognizer, and any network trained on other manifests of the same people.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import torch

from frontalize.config import from_yaml
from frontalize.data.manifest import ManifestMissing, read_manifest
from frontalize.evaluation.identification import Scorer, generator_view, identify, warp_view
from frontalize.evaluation.quality import TargetQuality
from frontalize.evaluation.report import write_report
from frontalize.inference.frontalizer import load_generator
from frontalize.models.refiner import learned_parts_note
from frontalize.pipeline.judging import judge_lines
from frontalize.recognition.recognizer import Recognizer, recognizer_record
from frontalize.runs.folders import NoCheckpoint, newest_generator_checkpoint, newest_recognizer
from frontalize.runs.provenance import (
    UNRECORDED, TrainedOn, Unrecorded, Use, check_clean, load_lazily, manifest_drift, read_admitted, read_record,
    record_of,
)


def training_recognizer(cfg) -> Path | None:
    """The recognizer the generator's identity loss used, if it still exists."""
    path = cfg.loss.recognizer
    return Path(path) if cfg.loss.identity_features == "recognizer" and path and Path(path).exists() else None


def generator_check(protocol: str, prepared: Path | None):
    """"The newest generator" for ``protocol``: the reason to pass a checkpoint over (None when it suits).

    The data it would be evaluated on is its own prepared folder (or ``prepared``) at its own crop size."""
    manifests = {}

    def refusal(path: Path) -> str | None:
        state = load_lazily(path)
        try:
            record = record_of(state, path, "generator")
        except Unrecorded:
            return UNRECORDED
        cfg = from_yaml(state["config"])
        where, size = Path(prepared or cfg.data.prepared), cfg.data.size
        if (where, size) not in manifests:
            try:
                manifests[(where, size)] = read_manifest(where, protocol, size)
            except ManifestMissing:
                manifests[(where, size)] = None
        manifest = manifests[(where, size)]
        if manifest is None:
            return f"no {protocol} manifest at {size} px in {where}"
        return Use(protocol, manifest.dataset, size, frozenset(manifest.subjects("test"))).refusal(record)

    return refusal


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
    per_yaw: int | None = None  # at most this many probes per camera column, spread over the flashes (subsample_probes)
    device: str = "cpu"
    runs_dir: Path = Path("runs")
    progress: bool = True
    probe_seed: int = 0  # the probe subsample's seed (per_yaw)
    external: tuple[Path, ...] = ()  # networks the user declares trained elsewhere, on other people (--external)


@dataclass
class Report:
    result: dict
    paths: dict[str, Path]
    title: str
    protocol: str
    checkpoint: Path
    setting: str
    networks: list[tuple[str, str, TrainedOn]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # flagged in the header: networks trained on other manifests


def default_generator(req: "ReportRequest") -> Path:
    if req.protocol is None:  # the newest run on its own protocol (checked below like any other)
        return newest_generator_checkpoint(req.runs_dir)
    return newest_generator_checkpoint(req.runs_dir, generator_check(req.protocol, req.prepared), req.protocol)


def check_networks(networks: list[tuple[str, Path, TrainedOn]], protocol: str, manifest, size: int) -> None:
    """Refuse any network that saw a subject ``protocol`` tests (in the manifest's people), or other-sized crops, or
    whose record cannot show whom it saw (unless declared external)."""
    tested = manifest.subjects("test")
    for name, path, record in networks:
        check_clean(name, path, record, protocol, tested, manifest.dataset, size)


def drift_warnings(networks: list[tuple[str, Path, TrainedOn]], prepared: Path, dataset: str) -> list[str]:
    """The header's warning for each network trained on other manifests of the same people (runs/provenance.py)."""
    return [f"Warning: the {name} `{path}`: {why}." for name, path, record in networks
            for why in [manifest_drift(record, prepared, dataset)] if why]


def recorded_networks(req: ReportRequest, checkpoint: Path, recognizer: Path,
                      dataset: str) -> list[tuple[str, Path, TrainedOn]]:
    """(role, file, record) of every network the figures come from; the user's word where declared external."""
    def recorded(name: str, path: Path, read) -> tuple[str, Path, TrainedOn]:
        return name, path, read_admitted(path, read, dataset, req.external)

    networks = [recorded("generator", checkpoint, partial(read_record, what="generator")),
                recorded("shared recognizer", recognizer, recognizer_record)]
    if req.judge:
        networks.append(recorded("independent judge", req.judge, recognizer_record))
    if req.competitor:
        networks.append(recorded("all-pose competitor", req.competitor, recognizer_record))
    if req.baseline:
        networks.append(recorded("baseline generator", req.baseline, partial(read_record, what="baseline generator")))
    return networks


def judge_header(req: ReportRequest, networks: list[tuple[str, Path, TrainedOn]]) -> list[str]:
    """How the judge differs from the shared recognizer; ``NotIndependent`` where it does not (pipeline/judging.py)."""
    found = {name: (path, record) for name, path, record in networks}
    judged = [found[name] for name in ("generator", "baseline generator") if name in found]
    return judge_lines(*found["independent judge"], *found["shared recognizer"], judged, req.recognizer_arch)


def identity_report(req: ReportRequest) -> Report:
    device = torch.device(req.device)
    checkpoint = req.checkpoint or default_generator(req)
    generator, cfg = load_generator(checkpoint, device)
    protocol = req.protocol or cfg.data.protocol
    prepared = req.prepared or Path(cfg.data.prepared)
    size = cfg.data.size
    manifest = read_manifest(prepared, protocol, size)
    manifest.require_known_dataset()
    use = Use(protocol, manifest.dataset, size, frozenset(manifest.subjects("test")))
    rec_path = (req.recognizer or training_recognizer(cfg)
                or newest_recognizer(req.runs_dir, check=use.check("recognizer"), wanted=use.describe()))
    if rec_path is None:
        raise NoCheckpoint("no trained recognizer: python scripts/train_recognizer.py --config configs/recognizer_synthpie.yaml")
    networks = recorded_networks(req, checkpoint, rec_path, manifest.dataset)
    check_networks(networks, protocol, manifest, size)
    header = judge_header(req, networks) if req.judge else []
    warnings = drift_warnings(networks, prepared, manifest.dataset)
    shared = Scorer("", Recognizer.load(rec_path, arch=req.recognizer_arch).to(device))
    scorers = [shared]
    if req.judge:
        scorers.append(Scorer("judge", Recognizer.load(req.judge).to(device)))
    if req.competitor:
        scorers.append(Scorer("all_pose", Recognizer.load(req.competitor).to(device), views=("raw",)))
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
    result = identify(manifest.rows, prepared, size, device, scorers, protocol, views=views,
                      fusions={"fused": ("raw", "frontalized"), "warp_fused": ("raw", "warp")},
                      observers=(quality,), flip=req.flip, per_yaw=req.per_yaw, progress=req.progress,
                      seed=req.probe_seed)
    run = checkpoint.parent.parent
    fixed = f"; {learned_parts_note(cfg.model.fixed_parts)}" if cfg.model.fixed_parts else ""
    title = (f"{cfg.setting} (geometry: {cfg.model.geometry}{fixed}) on {protocol} ({run.name}/{checkpoint.name}), "
             f"recognizer {Path(rec_path).parent.name}" + (f", judge {Path(req.judge).parent.name}" if req.judge else ""))
    listed = [(name, str(path), record) for name, path, record in networks]
    paths = write_report(result, req.out or run / "report", protocol, title, quality.samples, listed, manifest.dataset,
                         header=[*warnings, *header])
    return Report(result, paths, title, protocol, checkpoint, cfg.setting, listed, warnings)


def log_report(report: Report, mode: str, project: str, init_timeout: int) -> None:
    """The report's table, chart and samples to W&B."""
    from frontalize.runs.tracking import Tracker

    tracker = Tracker(report.paths["json"].parent, project, report.setting, f"eval-{report.setting}-{report.protocol}", mode,
                      {"checkpoint": str(report.checkpoint)}, init_timeout)
    table = report.result["table"]
    columns = [c for c in next(iter(table.values())) if c != "probes"]
    tracker.log_table(0, f"rank1_{report.protocol}", ["yaw", *columns, "probes"],
                      [[str(k), *[v.get(c) for c in columns], v["probes"]] for k, v in table.items()])
    tracker.log_images(0, {k: v for k, v in report.paths.items() if k in ("chart", "folded_chart", "samples")})
    tracker.finish()
