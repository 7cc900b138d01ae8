"""`make demo` / `frontalize demo`: the whole pipeline on the embedded default, on the CPU, with a closing summary.

SynthPIE `small` -> aligned crops, poses and protocol manifests -> the shared recognizer -> the independent
judge -> the warp refiner (setting1_4r, CPU configuration: no critics, 1000 steps) -> the identity report on setting1 (warp-only
baseline, judge rows) -> `frontalize infer` on a test subject's profile photo.
Each step says what it does and the command that does it alone, shows a progress bar with the time left,
and skips work that is already done (a finished recognizer run, a finished GAN run, generated files) when
what was done suits the demo: networks whose training record shows no setting1 test subject (and, for the
shared recognizer, none of the GAN's validation subjects), at the demo's crop size.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from frontalize.config import load_config
from frontalize.data.multipie import ShotId
from frontalize.preparation.prep import PrepConfig, prepare
from frontalize.inference.frontalizer import Frontalizer, frontalize_files
from frontalize.pipeline.data import DEFAULT_PRESET, DEFAULT_SIZE, generate_default
from frontalize.pipeline.evaluate import ReportRequest, identity_report
from frontalize.pipeline.gan import launch
from frontalize.pipeline.recognizer import (
    JUDGE, JUDGE_RECIPE, newest_suitable_recognizer, scorer_use, shared_recipe_overrides, train_recognizer_recipe,
    train_shared_recognizer,
)
from frontalize.runs import checkpoint as ckpt
from frontalize.runs.folders import finished_gan_run
from frontalize.runs.provenance import Use
from frontalize.synthpie.generate import PRESETS

SETTING = "setting1_4r"
PROTOCOL = "setting1"
STEPS = 7


@dataclass
class DemoPaths:
    out: Path  # runs/demo: data, report, inferred picture
    runs: Path  # runs: the trained networks

    @property
    def prepared(self) -> Path:
        return self.out / "prepared"

    @property
    def report(self) -> Path:
        return self.out / "report"

    @property
    def infer(self) -> Path:
        return self.out / "infer"


def sample_photo(synthpie_root: Path, preset: str) -> Path:
    """A +45-degree shot under the gallery flash of the last subject, a test subject in every protocol."""
    return synthpie_root / ShotId(PRESETS[preset].subjects, 1, 1, "19_0", 7).relpath


class _Steps:
    def __init__(self):
        self.k, self.t0 = 0, time.perf_counter()

    def begin(self, what: str, command: str) -> None:
        self.k += 1
        print(f"\n[{self.k}/{STEPS}] {what}   ({time.perf_counter() - self.t0:.0f} s so far)\n      alone: {command}", flush=True)


def run_demo(out: Path = Path("runs/demo"), runs: Path = Path("runs"), progress: bool = True, preset: str = DEFAULT_PRESET,
             recognizer_overrides: list[str] = (), gan_overrides: list[str] = ()) -> dict:
    """The demo; ``preset`` and the overrides exist for quick smoke runs (``frontalize demo --preset tiny ...``)."""
    paths, steps = DemoPaths(Path(out), Path(runs)), _Steps()
    steps.begin(f"SynthPIE `{preset}`: synthetic subjects in the Multi-PIE layout",
                f"python data_prep/synthpie.py --preset {preset} --out {paths.out / 'synthpie'}")
    root = generate_default(paths.prepared, preset=preset, progress=progress)

    steps.begin(f"preparation: aligned {DEFAULT_SIZE}-px crops and protocol manifests",
                f"python data_prep/multipie.py --out {paths.prepared} --size {DEFAULT_SIZE} --preview")
    prep = prepare(PrepConfig(root=root, out=paths.prepared, size=DEFAULT_SIZE, preview=True, progress=progress,
                              workers=os.cpu_count() or 1))
    print(f"      {prep['images']} images, {prep['manifests'][PROTOCOL]['split']}")

    # no tables of the recognizers' own: the report's raw rows are exactly those (same probes, both recognizers), and
    # evaluating them twice cost the demo 45 s of its 25 minutes (`frontalize train-recognizer` alone evaluates both
    # protocols)
    recognizer_overrides = ["eval.protocols=[]", *recognizer_overrides]
    gan_overrides = [f"data.prepared={paths.prepared}", f"train.runs_dir={paths.runs}", *gan_overrides]
    val_subjects = load_config(SETTING, cpu=True, overrides=gan_overrides).data.val_subjects
    scorer = scorer_use(paths.prepared, PROTOCOL, DEFAULT_SIZE, val_subjects)  # the GAN's identity loss and validation
    evaluated = Use(scorer.protocol, scorer.dataset, scorer.size, scorer.tested)  # what the report checks
    recognizer = newest_suitable_recognizer(paths.runs, scorer)
    steps.begin("the shared recognizer (tiny IResNet, ArcFace)" + (f": using {recognizer}" if recognizer else ""),
                f"python scripts/train_recognizer.py --config configs/recognizer_synthpie.yaml data.prepared={paths.prepared}")
    if recognizer is None:
        recognizer = train_shared_recognizer(paths.prepared, DEFAULT_SIZE, paths.runs, progress=progress,
                                             overrides=[*shared_recipe_overrides(PROTOCOL, val_subjects),
                                                        *recognizer_overrides])

    judge = newest_suitable_recognizer(paths.runs, evaluated, JUDGE)
    steps.begin("the independent judge (IResNet-34 layout, another seed; no training loss uses it)"
                + (f": using {judge}" if judge else ""),
                f"python scripts/train_recognizer.py --config configs/{JUDGE_RECIPE.name} data.prepared={paths.prepared}")
    if judge is None:
        judge = train_recognizer_recipe(JUDGE_RECIPE, JUDGE, paths.prepared, DEFAULT_SIZE, paths.runs, progress=progress,
                                        overrides=list(recognizer_overrides))

    run = finished_gan_run(paths.runs, SETTING, evaluated.check("generator"))
    steps.begin(f"GAN {SETTING}, CPU configuration" + (f": using the finished run {run}" if run else ""),
                f"python scripts/train_gan.py --setting {SETTING} --cpu data.prepared={paths.prepared}")
    if run is None:
        cfg = load_config(SETTING, cpu=True, overrides=[f"loss.recognizer={recognizer}", *gan_overrides])
        run = Path(launch(cfg, progress=progress)["run_dir"])
    checkpoint = run / "checkpoints" / "best.pt"
    checkpoint = checkpoint if checkpoint.exists() else ckpt.latest(run / "checkpoints")

    steps.begin(f"identity report on {PROTOCOL}", f"python scripts/evaluate.py --checkpoint {checkpoint} "
                f"--protocol {PROTOCOL} --judge-recognizer {judge} --out {paths.report}")
    report = identity_report(ReportRequest(checkpoint=checkpoint, protocol=PROTOCOL, out=paths.report, recognizer=recognizer,
                                           judge=judge, runs_dir=paths.runs, progress=progress))

    photo = sample_photo(root, preset)
    steps.begin("frontalize a photo", f"frontalize infer {photo} --out {paths.infer} --side-by-side")
    engine = Frontalizer(checkpoint)
    totals = frontalize_files(engine, [photo], paths.infer, side_by_side=True)
    inferred = sorted(paths.infer.glob("*_side.png"))

    print(f"\ndemo finished in {time.perf_counter() - steps.t0:.0f} s\n")
    print(report.paths["markdown"].read_text())
    print("where things are:")
    print(f"  report       {report.paths['markdown']} (+ .csv, chart {report.paths['chart'].name}, {report.paths['json'].name})")
    if "samples" in report.paths:
        print(f"  sample grid  {report.paths['samples']} (input | frontalized | target, one row per yaw)")
    print(f"  inferred     {inferred[0] if inferred else 'none: ' + str(totals.failed) + ' photo(s) without a face'}")
    print(f"  networks     recognizer {recognizer}; judge {judge}; generator {checkpoint}")
    print(f"  prepared     {paths.prepared} (preview_{DEFAULT_SIZE}.png shows landmarks and region boxes)")
    return {"report": report, "checkpoint": checkpoint, "recognizer": recognizer, "inferred": inferred}
