"""The time-to-quality curve of a finished GAN run: how good its shipped generator was after how much training.

For every step checkpoint of the run (``<run>/checkpoints/step_*.pt``) the generator it ships, the moving average
of the weights where training kept one (``inference.frontalizer.load_generator``), frontalizes the run's
validation probes: every image of the training subjects the run held out to choose ``best.pt`` on
(``training/validation.py``), matched against a gallery of every training subject's frontal shot.  No network
trained on these faces: the generator never saw them, and the judge must not have either.  Both are checked against
their training records before anything is measured, as ``frontalize eval`` checks them: a record that cannot show
whom the network saw, or none, is taken only where the user declares the network external (``external``); the
judge must be independent of the run's recognizer (pipeline/judging.py).  Per checkpoint:

  rank-1    the independent judge's, over every probe (``all``) and at the -45 and +45 degree columns
            (``evaluation.identification.identify``, the evaluator behind every rank-1 table);
  SSIM      against the probe's frontal target, on the template's face box and on the whole crop
            (``evaluation.quality.TargetQuality``), over the probes whose target is another picture.

Step 0 is the geometric frontalization alone (``warp_view``): where the generator starts from before it learns
anything, and a constant line beside the raw probes'.

The clock (``training_clock``, from ``<run>/metrics.jsonl``): the trainer logs ``step_s``, the mean wall-clock
seconds per step since its previous log line, so the sum of ``step_s`` times the steps it covers is the training
loop's wall-clock since it began (a resumed run's downtime and its start-up are not in it).  That sum includes the
periodic validation checks (and the sample grids written with them); ``train_s``, the curve's x axis, leaves them
out: each check's length is the gap between its step's log line and its result line.  ``elapsed_s`` keeps them in.
Both are taken at the checkpoint step's log line, before that step's own check.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from frontalize.config import from_yaml
from frontalize.data.manifest import read_manifest
from frontalize.data.multipie import ALL_COLUMN
from frontalize.evaluation.curve_report import write_curve
from frontalize.evaluation.identification import Scorer, generator_view, identify, warp_view
from frontalize.evaluation.quality import WITH_TARGET, TargetQuality
from frontalize.inference.frontalizer import load_generator_with_record
from frontalize.pipeline.judging import judge_lines
from frontalize.recognition.recognizer import Recognizer, recognizer_record
from frontalize.runs import checkpoint as ckpt
from frontalize.runs.folders import NoCheckpoint
from frontalize.runs.provenance import (
    EXTERNAL, Contaminated, TrainedOn, Unrecorded, check_people, load_lazily, read_admitted, read_record, subject_ranges,
)
from frontalize.training.validation import hold_out_subjects, validation_rows

RANK1_COLUMNS = ("-45", "+45", ALL_COLUMN)  # the judge's rank-1 reported per point
WARP_STEP = 0  # the warp alone stands at step 0, time 0


# ------------------------------------------------------------------------------------------- the clock
@dataclass(frozen=True)
class Clock:
    """Wall-clock seconds of training at a step's log line (see the module's docstring)."""

    train_s: float  # the training loop's, less the periodic validation checks before this step
    elapsed_s: float  # the training loop's, checks included
    validation_s: float  # the checks before this step that could be timed


def read_metrics(path: Path) -> list[dict]:
    if not path.exists():
        raise FileNotFoundError(f"no metrics.jsonl in the run folder {path.parent}: the curve's clock is read from it")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def training_clock(records: list[dict], steps: list[int]) -> dict[int, Clock]:
    """The clock at each of ``steps`` from the run's metrics records.

    A step between two log lines gets the later line's seconds per step for the steps it has gone (the log
    interval is not required to divide the checkpoint interval).  A check whose step has no log line cannot be
    timed: its seconds stay in ``train_s``."""
    logs = {int(r["step"]): r for r in records if "step_s" in r}  # a line logged again after a resume replaces it
    if not logs:
        raise ValueError("the run's metrics.jsonl has no training log lines (step_s): no clock to read")
    checks = {int(r["step"]): r["time"] for r in records if "step_s" not in r and "time" in r}
    cumulative, previous = {}, 0
    for step in sorted(logs):
        cumulative[step] = cumulative.get(previous, 0.0) + logs[step]["step_s"] * (step - previous)
        previous = step
    pauses = {step: checks[step] - logs[step]["time"] for step in checks if step in logs}
    out = {}
    for step in steps:
        later = [s for s in logs if s >= step]
        if not later:
            raise ValueError(f"step {step} is past the last line of metrics.jsonl (step {max(logs)}): no clock for it")
        end = min(later)
        before = max([s for s in logs if s < end], default=0)
        elapsed = cumulative.get(before, 0.0) + logs[end]["step_s"] * (step - before)
        validation = sum(v for s, v in pauses.items() if s < step)
        out[step] = Clock(elapsed - validation, elapsed, validation)
    return out


# ------------------------------------------------------------------------------------------- measuring
def measure_view(view: str, transform, rows: list[dict], prepared: Path, size: int, device, judge, protocol: str,
                 per_yaw: int | None = None) -> dict:
    """The judge's rank-1 and SSIM to the target of one view of the probes (``transform`` None: the raw probes)."""
    scorer = Scorer("judge", judge, views=(view,))
    quality = TargetQuality(scorer, prepared, size, device, keep_samples=False, views=[view])
    table = identify(rows, prepared, size, device, [scorer], protocol, views={view: transform} if transform else None,
                     observers=(quality,), per_yaw=per_yaw)["table"]
    every = table[ALL_COLUMN]
    return {
        **{f"rank1_{c}": table[c][scorer.column(view)] if c in table else None for c in RANK1_COLUMNS},
        "ssim_face": every.get("ssim"), "ssim_crop": every.get("crop_ssim"),
        "identity_cosine": every.get("identity_cosine"),  # the judge's, frontalized to target
        "probes": every["probes"], "probes_with_target": int(every.get(WITH_TARGET, 0)),
        "table": table,
    }


@dataclass
class CurveRequest:
    run: Path  # a GAN run folder: checkpoints/step_*.pt, metrics.jsonl, config.yaml
    judge: Path  # an independent recognizer that never saw the run's validation subjects
    prepared: Path | None = None  # None: the run's
    out: Path | None = None  # None: <run>/curve
    per_yaw: int | None = None  # None: every validation probe
    device: str = "cpu"
    progress: bool = True
    external: tuple[Path, ...] = ()  # networks the user declares trained elsewhere, on other people (--external)


@dataclass
class Curve:
    run: Path
    setting: str
    protocol: str
    points: list[dict]  # step 0 (the warp alone), then every step checkpoint in step order
    baselines: dict[str, dict]  # "raw", "warp": constant lines
    info: dict = field(default_factory=dict)  # what was measured on what: judge, validation subjects, clock
    paths: dict[str, Path] = field(default_factory=dict)


def run_files(run: Path) -> tuple[list[Path], object]:
    """The run's step checkpoints (in step order) and its config; clear errors for what is missing."""
    run = Path(run)
    if not run.is_dir():
        raise FileNotFoundError(f"run folder not found: {run}")
    if not (run / "config.yaml").exists():
        raise FileNotFoundError(f"{run} is not a GAN run folder: no config.yaml in it")
    checkpoints = ckpt.list_checkpoints(run / "checkpoints")
    if not checkpoints:
        raise NoCheckpoint(f"no step checkpoints (checkpoints/step_*.pt) in {run}")
    return checkpoints, from_yaml((run / "config.yaml").read_text())


def judge_record(path: Path, validation: set[int], dataset: str, size: int, external=()) -> TrainedOn:
    """What the judge was trained on, refusing one that saw a validation subject, trained on other-sized crops, or
    whose record cannot show whom it saw (none, or data from elsewhere) unless the user declared it external."""
    record = read_admitted(path, recognizer_record, dataset, external)
    check_people("judge", path, record, dataset)
    seen = record.overlap(validation, dataset)
    if seen:
        raise Contaminated(f"refusing the judge {path}: it trained on {len(seen)} of the run's {len(validation)} validation "
                           f"subjects ({subject_ranges(seen)}), the faces the curve identifies ({record.describe()})")
    if record.size is not None and record.size != size:
        raise Contaminated(f"refusing the judge {path}: it was trained on {record.size}-px crops, the run works at {size} px")
    return record


def generator_records(checkpoints: list[Path], validation: set[int], dataset: str, external=()) -> dict[Path, TrainedOn]:
    """Each step checkpoint's record, refusing one that trained on a validation subject, or whose record cannot show
    whom it saw (none, or another dataset's people) unless the user declared it (or the run folder) external."""
    records = {}
    for path in checkpoints:
        record = read_admitted(path, lambda p: read_record(p, "generator"), dataset, external)
        check_people("generator", path, record, dataset)
        seen = record.trained(validation, dataset)
        if seen:
            raise Contaminated(f"refusing the generator {path}: it trained on {len(seen)} of the validation subjects "
                               f"({subject_ranges(seen)}) the curve identifies ({record.describe()})")
        records[path] = record
    return records


def shared_recognizer(cfg, dataset: str, external=()) -> tuple[Path | None, TrainedOn | None]:
    """The run's recognizer (its identity loss and validation scorer, ``loss.recognizer``) and its record, where it is
    still there: the one the judge must not be, and whose subjects it must have trained on (one without a record
    counts as trained elsewhere: then only an external judge compares with it)."""
    path = cfg.loss.recognizer
    if not path or path == "auto" or not Path(path).exists():
        return None, None
    try:
        return Path(path), read_admitted(Path(path), recognizer_record, dataset, external)
    except Unrecorded:
        return Path(path), TrainedOn(f"{EXTERNAL}: no training record", None, None, ())


def checkpoint_step(path: Path) -> int:
    return int(ckpt.CKPT.match(path.name).group(1))


def time_to_quality(req: CurveRequest) -> Curve:
    t0 = time.perf_counter()
    run = Path(req.run)
    checkpoints, cfg = run_files(run)
    if not Path(req.judge).exists():
        raise FileNotFoundError(f"judge recognizer not found: {req.judge}")
    steps = [checkpoint_step(p) for p in checkpoints]
    clock = training_clock(read_metrics(run / "metrics.jsonl"), steps)
    device = torch.device(req.device)
    protocol, size = cfg.data.protocol, cfg.data.size
    prepared = Path(req.prepared or cfg.data.prepared)
    manifest = read_manifest(prepared, protocol, size)
    manifest.require_known_dataset()
    rows, held = hold_out_subjects(manifest.rows, cfg.data.val_subjects)
    if not held:
        raise ValueError(f"{run} held out no validation subjects (data.val_subjects=0): there are no faces that neither "
                         "its generator nor its recognizers trained on, so no curve; train with data.val_subjects > 0")
    val_rows = validation_rows(rows, manifest.gallery_flash, protocol)
    if not all(r.get("landmarks") for r in val_rows):
        raise ValueError(f"the prepared data in {prepared} has no landmarks: the warp-only baseline (step 0) needs them")
    judge_trained_on = judge_record(Path(req.judge), held, manifest.dataset, size, req.external)
    records = generator_records(checkpoints, held, manifest.dataset, req.external)
    shared, shared_trained_on = shared_recognizer(cfg, manifest.dataset, req.external)
    independence = judge_lines(Path(req.judge), judge_trained_on, shared, shared_trained_on, list(records.items()))
    judge = Recognizer.load(req.judge).to(device)

    def measure(view, transform):
        return measure_view(view, transform, val_rows, prepared, size, device, judge, protocol, req.per_yaw)

    bar = tqdm(total=len(checkpoints) + 2, unit="view", desc="time-to-quality", disable=not req.progress)
    baselines = {}
    for view, transform in (("raw", None), ("warp", warp_view(size, device))):
        baselines[view] = measure(view, transform)
        bar.update(1)
    points = [{"step": WARP_STEP, "checkpoint": "", "train_s": 0.0, "elapsed_s": 0.0, "validation_s": 0.0,
               **baselines["warp"]}]
    for path, step in zip(checkpoints, steps):
        generator, g_cfg, _ = load_generator_with_record(path, device)
        record = records[path]
        if g_cfg.data.size != size:
            raise ValueError(f"{path} works at {g_cfg.data.size} px, the run's config at {size} px")
        if record.validation and set(record.validation) != held:
            raise ValueError(f"{path} chose its checkpoint on subjects {subject_ranges(record.validation)}, but "
                             f"{prepared} holds out {subject_ranges(held)}: is this the run's prepared data?")
        c = clock[step]
        points.append({"step": step, "checkpoint": path.name, "train_s": c.train_s, "elapsed_s": c.elapsed_s,
                       "validation_s": c.validation_s, **measure("frontalized", generator_view(generator))})
        del generator
        bar.update(1)
    bar.close()
    best = run / "checkpoints" / "best.pt"
    best_step = int(load_lazily(best)["step"]) if best.exists() else None
    probes = sum(r["role"] == "probe" for r in val_rows)
    info = {
        "run": str(run), "prepared": str(prepared), "size": size,
        "judge": {"path": str(req.judge), "trained_on": judge_trained_on.describe(), "independence": independence},
        "validation": {"subjects": sorted(held), "probes": probes, "probes_scored": points[0]["probes"],
                       "gallery": len(val_rows) - probes},
        "best_step": best_step,
        "clock": "train_s: the training loop's wall-clock at the step (sum of metrics.jsonl's step_s over the steps), "
                 "less the periodic validation checks before it; elapsed_s: the same with the checks",
        "measured_s": round(time.perf_counter() - t0, 1),  # what this curve took, files not included
    }
    title = f"{cfg.setting} on {protocol} ({run.name}): validation subjects, judge rank-1 and SSIM"
    paths = write_curve(points, baselines, info, req.out or run / "curve", title)
    return Curve(run, cfg.setting, protocol, points, baselines, info, paths)
