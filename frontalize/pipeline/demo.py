"""`make demo` / `frontalize demo`: the whole pipeline on the embedded default, on the CPU, with a closing summary.

SynthPIE `small` -> aligned crops, poses and protocol manifests -> the shared recognizer -> the independent
judge -> the warp refiner (setting1_4r, CPU configuration: no critics, 1000 steps) -> the identity report on setting1 (warp-only
baseline, judge rows) -> the real-face benchmark (Pointing'04's real people, dlib's descriptor: raw, warp only, the
generator, fusions; full frames and tight crops) -> `frontalize infer` on a test subject's profile photo.
SynthPIE is prepared with MTCNN's landmarks, as real Multi-PIE is (the renderer's exact ones are for the oracles and
tests), detected on one flash per camera view (the gallery flash; the view's flashes were shot within a second).
Each step says what it does and the command that does it alone, shows a progress bar with the time left,
and skips work that is already done (a finished recognizer run, a finished GAN run, generated files) when
what was done suits the demo: networks whose training record shows no test subject of the demo's protocol (and,
for the shared recognizer, none of the GAN's validation subjects), at the demo's crop size.

`frontalize demo --protocol setting2` (`make demo-setting2`) runs the same chain on Setting 2 (``demo_plan``):
SynthPIE `sessions` (all four sessions), recognizers on setting2's own training split (the recipes' ``for_protocol``
sections), the warp refiner setting2_4r, and a report on a fixed probe subsample: scoring all 16,243 probes of
setting2 with every row would take the demo about 19 minutes on 2 cores.  Each step's wall time is printed at the
end and written to ``timings.json``.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path

from frontalize.config import load_config
from frontalize.data.multipie import ShotId
from frontalize.preparation.prep import PrepConfig, prepare
from frontalize.inference.frontalizer import Frontalizer, frontalize_files
from frontalize.pipeline.data import DEFAULT_PRESET, DEFAULT_SIZE, generate_default
from frontalize.pipeline.evaluate import ReportRequest, identity_report
from frontalize.pipeline.judging import judge_lookup_check
from frontalize.pipeline.gan import launch
from frontalize.pipeline.real_faces import RealFaceRequest, real_face_report
from frontalize.pipeline.recognizer import (
    JUDGE, JUDGE_RECIPE, SHARED_RECIPE, newest_suitable_recognizer, recipe_command, recognizer_split, scorer_use,
    shared_recipe_overrides, train_recognizer_recipe, train_shared_recognizer,
)
from frontalize.runs import checkpoint as ckpt
from frontalize.runs.folders import finished_gan_run
from frontalize.runs.provenance import Use
from frontalize.synthpie.generate import PRESETS
from frontalize.utils.io import atomic_write_text

SETTING = "setting1_4r"
PROTOCOL = "setting1"
STEPS = 8
LANDMARKS = "mtcnn"  # what a user with real data has
DETECT_PER_VIEW = 1
# Setting 2: the current best generator on it, and the report's fixed probe subsample (at most this many probes per
# camera column, spread over the three flashes: 13 x 180 = 2,340 of 16,243 probes; see docs/setting2.md for the cost)
SETTING2 = "setting2_4r"
SETTING2_PRESET = "sessions"
SETTING2_PROBES_PER_COLUMN = 180


class DemoError(ValueError):
    """A demo asked of data that cannot serve it (a preset without the protocol's sessions)."""


@dataclass(frozen=True)
class DemoPlan:
    """What the demo runs for one protocol."""

    protocol: str
    setting: str  # the GAN's named setting, trained in its CPU configuration
    preset: str  # the SynthPIE preset that has the protocol's data
    probes_per_column: int | None  # the report's fixed probe subsample (None: every probe)
    out: Path  # the default output folder (data, report, inferred picture)


def demo_plan(protocol: str = PROTOCOL) -> DemoPlan:
    plans = {PROTOCOL: DemoPlan(PROTOCOL, SETTING, DEFAULT_PRESET, None, Path("runs/demo")),
             "setting2": DemoPlan("setting2", SETTING2, SETTING2_PRESET, SETTING2_PROBES_PER_COLUMN, Path("runs/demo_setting2"))}
    if protocol not in plans:
        raise DemoError(f"the demo runs {' or '.join(plans)}, not {protocol!r}")
    return plans[protocol]


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

    @property
    def real_faces(self) -> Path:
        return self.out / "real_faces"


def sample_photo(synthpie_root: Path, preset: str) -> Path:
    """A +45-degree shot under the gallery flash of the last subject (a test subject in every protocol), from the
    first session they came to."""
    p = PRESETS[preset]
    subject = p.subject_ids()[-1]
    session = min(ses for ses in p.sessions if subject in p.attendees(ses))
    return synthpie_root / ShotId(subject, session, 1, "19_0", 7).relpath


class _Steps:
    """Numbered steps, each announced with the command that runs it alone, and the wall time each one took."""

    def __init__(self):
        self.k, self.t0 = 0, time.perf_counter()
        self.times: list[tuple[str, float]] = []
        self._started = None

    def begin(self, what: str, command: str, label: str | None = None) -> None:
        self._close()
        self.k += 1
        self._started = (label or what, time.perf_counter())
        print(f"\n[{self.k}/{STEPS}] {what}   ({time.perf_counter() - self.t0:.0f} s so far)\n      alone: {command}", flush=True)

    def _close(self) -> None:
        if self._started is not None:
            self.times.append((self._started[0], time.perf_counter() - self._started[1]))
            self._started = None

    def finish(self) -> dict:
        """{step label: seconds, ..., "total": seconds}."""
        self._close()
        return {**{label: round(t, 1) for label, t in self.times}, "total": round(time.perf_counter() - self.t0, 1)}


def real_faces(checkpoint: Path, out: Path, progress: bool, limit: int | None = None):
    """The Pointing'04 report of the demo's generator, or None (and why) where dlib, the judge, is not installed."""
    from frontalize.face.dlib_identity import JudgeMissing

    try:
        return real_face_report(RealFaceRequest(checkpoint=checkpoint, out=out, progress=progress, limit=limit)), ""
    except JudgeMissing as e:
        print(f"      skipped: {e}")
        return None, str(e)


def run_demo(out: Path | None = None, runs: Path = Path("runs"), progress: bool = True, preset: str | None = None,
             recognizer_overrides: list[str] = (), gan_overrides: list[str] = (), protocol: str = PROTOCOL,
             probes_per_column: int | None = None, real_faces_probes: int | None = None) -> dict:
    """The demo on ``protocol`` (``demo_plan``); ``out``, ``preset`` and ``probes_per_column`` default to the plan's
    (None), and they and the overrides exist for quick smoke runs (``frontalize demo --preset tiny ...``)."""
    plan = demo_plan(protocol)
    preset = preset or plan.preset
    probes_per_column = probes_per_column or plan.probes_per_column
    paths, steps = DemoPaths(Path(out or plan.out), Path(runs)), _Steps()
    steps.begin(f"SynthPIE `{preset}`: synthetic subjects in the Multi-PIE layout",
                f"python data_prep/synthpie.py --preset {preset} --out {paths.out / 'synthpie'}", "synthpie")
    root = generate_default(paths.prepared, preset=preset, progress=progress)

    steps.begin(f"preparation: aligned {DEFAULT_SIZE}-px crops and protocol manifests, MTCNN's landmarks",
                f"python data_prep/multipie.py --out {paths.prepared} --size {DEFAULT_SIZE} --landmarks {LANDMARKS} "
                f"--detect-per-view {DETECT_PER_VIEW} --protocols {plan.protocol} --preview", "preparation")
    prep = prepare(PrepConfig(root=root, out=paths.prepared, size=DEFAULT_SIZE, preview=True, progress=progress,
                              workers=os.cpu_count() or 1, landmarks=LANDMARKS, detect_per_view=DETECT_PER_VIEW,
                              protocols=(plan.protocol,)))
    manifest = prep["manifests"].get(plan.protocol, {})
    if "split" not in manifest:
        raise DemoError(f"SynthPIE `{preset}` has no {plan.protocol} data ({manifest.get('skipped', 'no manifest')}): "
                         f"use the preset `{plan.preset}`" + (" (or `tiny_sessions` for a smoke run)"
                                                              if plan.protocol == "setting2" else ""))
    print(f"      {prep['images']} images, {manifest['split']}")

    # no tables of the recognizers' own: the report's raw rows are exactly those (same probes, both recognizers), and
    # evaluating them twice cost the demo 45 s of its 25 minutes (`frontalize train-recognizer` alone evaluates both
    # protocols)
    recognizer_overrides = ["eval.protocols=[]", *recognizer_overrides]
    gan_overrides = [f"data.prepared={paths.prepared}", f"train.runs_dir={paths.runs}", *gan_overrides]
    val_subjects = load_config(plan.setting, cpu=True, overrides=gan_overrides).data.val_subjects
    # the GAN's identity loss and validation: neither the test nor the validation subjects, from the recipe's split
    scorer = scorer_use(paths.prepared, plan.protocol, DEFAULT_SIZE, val_subjects)
    evaluated = Use(scorer.protocol, scorer.dataset, scorer.size, scorer.tested)  # what the report checks
    recognizer = newest_suitable_recognizer(paths.runs, scorer)
    steps.begin("the shared recognizer (tiny IResNet, ArcFace)" + (f": using {recognizer}" if recognizer else ""),
                recipe_command(SHARED_RECIPE, paths.prepared, plan.protocol), "shared recognizer")
    if recognizer is None:
        recognizer = train_shared_recognizer(paths.prepared, DEFAULT_SIZE, paths.runs, progress=progress,
                                             overrides=[*shared_recipe_overrides(plan.protocol, val_subjects),
                                                        *recognizer_overrides], protocol=plan.protocol)

    judge_use = replace(evaluated, split=recognizer_split(plan.protocol, JUDGE_RECIPE))
    judge = newest_suitable_recognizer(paths.runs, judge_use, JUDGE, judge_lookup_check(recognizer, judge_use.check("recognizer")))
    steps.begin("the independent judge (IResNet-34 layout, another seed; no training loss uses it)"
                + (f": using {judge}" if judge else ""), recipe_command(JUDGE_RECIPE, paths.prepared, plan.protocol), "judge")
    if judge is None:
        # the shared recognizer's exclusions too: the report refuses a judge trained on other subjects than it
        judge = train_recognizer_recipe(JUDGE_RECIPE, JUDGE, paths.prepared, DEFAULT_SIZE, paths.runs, progress=progress,
                                        overrides=[*shared_recipe_overrides(plan.protocol, val_subjects),
                                                   *recognizer_overrides], protocol=plan.protocol)

    run = finished_gan_run(paths.runs, plan.setting, evaluated.check("generator"))
    steps.begin(f"GAN {plan.setting}, CPU configuration" + (f": using the finished run {run}" if run else ""),
                f"python scripts/train_gan.py --setting {plan.setting} --cpu data.prepared={paths.prepared}", "GAN")
    if run is None:
        cfg = load_config(plan.setting, cpu=True, overrides=[f"loss.recognizer={recognizer}", *gan_overrides])
        run = Path(launch(cfg, progress=progress)["run_dir"])
    checkpoint = run / "checkpoints" / "best.pt"
    checkpoint = checkpoint if checkpoint.exists() else ckpt.latest(run / "checkpoints")

    subsample = f" --probes-per-column {probes_per_column}" if probes_per_column else ""
    steps.begin(f"identity report on {plan.protocol}" + (f" (a fixed subsample: at most {probes_per_column} probes per "
                                                          "camera column)" if probes_per_column else ""),
                f"python scripts/evaluate.py --checkpoint {checkpoint} --protocol {plan.protocol} --judge-recognizer {judge}"
                f"{subsample} --out {paths.report}", "report")
    report = identity_report(ReportRequest(checkpoint=checkpoint, protocol=plan.protocol, out=paths.report,
                                           recognizer=recognizer, judge=judge, per_yaw=probes_per_column,
                                           runs_dir=paths.runs, progress=progress))

    steps.begin("real faces: Pointing'04's real people, judged by dlib (full frames and tight crops)",
                f"frontalize eval --protocol pointing04 --checkpoint {checkpoint} --out {paths.real_faces}", "real faces")
    real, skipped_real = real_faces(checkpoint, paths.real_faces, progress, real_faces_probes)

    photo = sample_photo(root, preset)
    steps.begin("frontalize a photo", f"frontalize infer {photo} --out {paths.infer} --side-by-side", "infer")
    engine = Frontalizer(checkpoint)
    totals = frontalize_files(engine, [photo], paths.infer, side_by_side=True)
    inferred = sorted(paths.infer.glob("*_side.png"))

    timings = steps.finish()
    atomic_write_text(paths.out / "timings.json", json.dumps(timings, indent=1))
    print(f"\ndemo finished in {timings['total']:.0f} s (" + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()
                                                                     if k != "total") + ")\n")
    print(report.paths["markdown"].read_text())
    print(real.paths["markdown"].read_text() if real is not None else f"real faces: skipped ({skipped_real})\n")
    print("where things are:")
    print(f"  report       {report.paths['markdown']} (+ .csv, chart {report.paths['chart'].name}, "
          f"by |yaw| {report.paths['folded_chart'].name}, {report.paths['json'].name})")
    if "samples" in report.paths:
        print(f"  sample grid  {report.paths['samples']} (input | frontalized | target, one row per yaw)")
    if real is not None:
        print(f"  real faces   {real.paths['markdown']} (+ per-probe CSV, chart, sample grids per condition)")
    print(f"  inferred     {inferred[0] if inferred else 'none: ' + str(totals.failed) + ' photo(s) without a face'}")
    print(f"  networks     recognizer {recognizer}; judge {judge}; generator {checkpoint}")
    previews = f"preview_{DEFAULT_SIZE}.png shows landmarks and region boxes"
    if (paths.prepared / f"preview_sessions_{DEFAULT_SIZE}.png").exists():
        previews += f"; preview_sessions_{DEFAULT_SIZE}.png each subject's visits"
    print(f"  prepared     {paths.prepared} ({previews})")
    print(f"  timings      {paths.out / 'timings.json'}")
    return {"report": report, "checkpoint": checkpoint, "recognizer": recognizer, "judge": judge, "inferred": inferred,
            "timings": timings, "real_faces": real}
