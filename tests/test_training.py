"""GAN training: every named setting runs, crash + resume repeats the losses, 2-process torchrun, NaN stop."""
import functools
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import cv2
import pytest
import torch

from frontalize.cli.train import main as train_main
from frontalize.config import known_settings
from frontalize.runs import checkpoint as ckpt
from conftest import random_recognizer

ROOT = Path(__file__).resolve().parent.parent


def _overrides(prepared: Path, runs: Path, steps: int, **extra) -> list[str]:
    return _overrides_base(prepared, runs, steps, **extra)


def _overrides_base(prepared: Path, runs: Path, steps: int, **extra) -> list[str]:
    base = {
        "data.prepared": str(prepared), "data.size": "64", "data.workers": "0", "model.width": "0.125",
        "model.d_width": "8", "train.batch_size": "2", "train.steps": str(steps), "train.runs_dir": str(runs),
        "train.log_every": "1", "train.sample_every": "2", "train.checkpoint_every": "2", "train.eval_every": "1000",
        "train.threads": "1", "loss.identity_features": "vgg", "loss.recognizer": "null", "wandb.mode": "disabled",
        "data.val_subjects": "0",
    }
    base.update(extra)
    return [f"{k}={v}" for k, v in base.items()]


def _metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]


def _only_run(runs: Path) -> Path:
    found = list((runs / "gan").iterdir())
    assert len(found) == 1
    return found[0]


@pytest.fixture(scope="module")
def profile_folder(prepared_tiny, tmp_path_factory):
    out, _ = prepared_tiny
    folder = tmp_path_factory.mktemp("casia_like")
    for i, p in enumerate(sorted((out / "crops").rglob("*_190_07.png"))[:6]):
        (folder / f"{i:04d}").mkdir()
        cv2.imwrite(str(folder / f"{i:04d}" / "001.jpg"), cv2.imread(str(p)))
    return folder


def test_every_named_setting_is_configured():
    names = known_settings()
    for family in ("setting1", "session01"):
        for s in ("1", "2", "3", "4", "5", "8"):
            expected = f"setting1_{s}" if family == "setting1" else f"session01_{s}"
            assert expected in names


@pytest.mark.parametrize("setting", known_settings())
def test_every_setting_runs_a_few_steps(setting, prepared_tiny, profile_folder, tmp_path, capsys, request):
    from frontalize.config import load_config

    # setting2 needs several sessions: `tiny_sessions`, prepared only when a setting2 setting asks for it
    two_sessions = load_config(setting).data.protocol == "setting2"
    out, _ = request.getfixturevalue("prepared_tiny_sessions") if two_sessions else prepared_tiny
    extra = {"data.profile_folder": str(profile_folder)} if setting.endswith("_5") else {}
    if load_config(setting).data.mix:  # a second prepared folder: here the same one again
        extra["data.mix"] = str(out)
    assert train_main(["--setting", setting, "--cpu", "--quiet", *_overrides(out, tmp_path, 2, **extra)]) == 0
    run = _only_run(tmp_path)
    rows = _metrics(run)
    assert [r["step"] for r in rows] == [1, 2]
    state = ckpt.load(ckpt.latest(run / "checkpoints"))
    assert state["step"] == 2 and "rng" in state and "opt_d" in state
    assert (run / "samples" / "step_00000002.png").exists()
    kind = setting.split("_")[1]
    if kind in ("1", "8"):  # WGAN with clipping: critic weights stay in [-0.01, 0.01]
        assert max(t.abs().max().item() for k, t in state["critics"].items() if k.endswith("weight")) <= 0.01 + 1e-7
        assert "gradient_penalty" not in rows[0]
    if kind in ("2", "4", "5"):
        assert "gradient_penalty" in rows[0]
    if kind == "2":
        assert "square_avg" in next(iter(state["opt_d"]["state"].values()))  # RMSProp
    if kind == "3":
        assert "gradient_penalty" not in rows[0] and "l1" in rows[0]
    if kind in ("4", "5"):
        assert {k.split(".")[1] for k in state["critics"] if k.startswith("critics.")} == {"whole", "eyes", "nose", "mouth", "face"}
    if kind == "5":
        assert "l1" not in rows[0]  # no targets for image-folder inputs


def test_without_an_adversarial_term_the_critics_are_not_trained(prepared_tiny, tmp_path):
    """loss.gan=0: the generator learns from its other terms alone, and no step is spent on critics that teach nothing."""
    out, _ = prepared_tiny
    assert train_main(["--setting", "1_4r", "--cpu", "--quiet", *_overrides(out, tmp_path, 2), "loss.gan=0"]) == 0
    run = _only_run(tmp_path)
    rows = _metrics(run)
    assert [r["step"] for r in rows] == [1, 2]
    assert not {"critic_total", "gradient_penalty", "gen_adv"} & set(rows[-1]) and "l1" in rows[-1]
    state = ckpt.load(ckpt.latest(run / "checkpoints"))
    assert state["opt_d"]["state"] == {}  # the critics' optimiser never stepped


@pytest.mark.parametrize("n", ["1", "2", "3", "4", "5", "8"])
def test_session01_settings_are_the_setting1_ones_on_another_protocol(n):
    from frontalize.config import CONFIG_DIR, load_config

    session = load_config(f"session01_{n}", cpu=True)
    setting = load_config(f"setting1_{n}", cpu=True, overrides=["data.protocol=session01"])
    assert session.setting == f"session01_{n}" and session.data.protocol == "session01"
    setting.setting = session.setting
    assert session == setting
    assert f"inherit: setting1_{n}" in (CONFIG_DIR / f"session01_{n}.yaml").read_text()  # defined once, not copied


def test_inheriting_settings_refuse_cycles_and_missing_parents(tmp_path):
    from frontalize.config import ConfigError, load_config

    (tmp_path / "setting9_1.yaml").write_text("inherit: setting9_2\n")
    (tmp_path / "setting9_2.yaml").write_text("inherit: setting9_1\n")
    (tmp_path / "setting9_3.yaml").write_text("inherit: setting9_404\nloss: {l1: 3.0}\n")
    (tmp_path / "setting9_4.yaml").write_text("inherit: setting9_3\nloss: {gan: 2.0}\n")
    with pytest.raises(ConfigError, match="a cycle"):
        load_config("setting9_1", config_dir=tmp_path)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config("setting9_4", config_dir=tmp_path)
    (tmp_path / "setting9_3.yaml").write_text("loss: {l1: 3.0, gan: 5.0}\n")
    child = load_config("setting9_4", config_dir=tmp_path)
    assert (child.loss.l1, child.loss.gan) == (3.0, 2.0)  # the parent's values, the child's on top


def test_a_settings_cpu_section_applies_after_the_cpu_configuration(tmp_path):
    """configs/cpu.yaml sets what every CPU run shares; a setting's own `cpu:` section (inherited, the child's on top)
    changes it for that setting alone, and only in the CPU configuration."""
    from frontalize.config import load_config

    (tmp_path / "cpu.yaml").write_text("train: {batch_size: 4, steps: 500}\n")
    (tmp_path / "setting9_1.yaml").write_text("loss: {l1: 3.0}\ncpu: {train: {batch_size: 8, steps: 900}}\n")
    (tmp_path / "setting9_2.yaml").write_text("inherit: setting9_1\ncpu: {train: {steps: 1200}}\n")
    child = load_config("setting9_2", cpu=True, config_dir=tmp_path)
    assert (child.train.batch_size, child.train.steps, child.loss.l1) == (8, 1200, 3.0)
    assert load_config("setting9_1", cpu=True, config_dir=tmp_path).train.steps == 900
    plain = load_config("setting9_2", config_dir=tmp_path)
    assert (plain.train.batch_size, plain.train.steps) == (5, 100_000)  # the defaults: no CPU values without --cpu
    assert load_config("setting9_2", cpu=True, overrides=["train.steps=7"], config_dir=tmp_path).train.steps == 7


def test_setting_names_dry_run_and_unknown(capsys):
    assert train_main(["--setting", "1_4", "--dry-run", "--cpu"]) == 0
    a = capsys.readouterr().out
    assert train_main(["--setting", "setting1_4", "--dry-run", "--cpu"]) == 0
    assert capsys.readouterr().out == a and "adversarial: wgan_gp" in a and "setting: setting1_4" in a
    assert train_main(["--setting", "7_7", "--dry-run"]) == 2
    assert "known: session01_1" in capsys.readouterr().err


def _run(args, env=None, **kw):
    return subprocess.Popen([sys.executable, str(ROOT / "scripts" / "train_gan.py"), *args], cwd=ROOT,
                            env={**os.environ, "WANDB_MODE": "disabled", **(env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def test_kill_9_then_resume_repeats_the_uninterrupted_losses(prepared_tiny, tmp_path):
    out, _ = prepared_tiny
    steps = 8
    _overrides = functools.partial(_overrides_base, **{"train.ema": "0.9"})  # the average must resume too
    straight = _run(["--setting", "1_4", "--cpu", "--quiet", *_overrides(out, tmp_path / "a", steps)])
    assert straight.wait(timeout=300) == 0, straight.stdout.read()
    reference = {r["step"]: r for r in _metrics(_only_run(tmp_path / "a"))}

    # the crash is made deterministic: the process kills itself right after logging step 5 (last checkpoint: 4)
    crash_at_step_5 = (
        "import os, signal, sys\n"
        "from frontalize.runs.tracking import Tracker\n"
        "log = Tracker.log\n"
        "def log_then_die(self, step, scalars):\n"
        "    log(self, step, scalars)\n"
        "    if step == 5:\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "Tracker.log = log_then_die\n"
        "from frontalize.cli.train import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    crashing = subprocess.run([sys.executable, "-c", crash_at_step_5, "--setting", "1_4", "--cpu", "--quiet",
                               *_overrides(out, tmp_path / "b", steps)], cwd=ROOT,
                              env={**os.environ, "WANDB_MODE": "disabled"}, capture_output=True, text=True, timeout=300)
    assert crashing.returncode == -signal.SIGKILL, crashing.stdout + crashing.stderr
    run = _only_run(tmp_path / "b")
    assert ckpt.latest(run / "checkpoints").name == "step_00000004.pt"
    assert [r["step"] for r in _metrics(run)] == [1, 2, 3, 4, 5] and not (run / "summary.json").exists()
    resumed = _run(["--setting", "1_4", "--cpu", "--quiet", "--resume", str(run), *_overrides(out, tmp_path / "b", steps)])
    log = resumed.communicate(timeout=300)[0]
    assert resumed.returncode == 0, log
    assert "resumed" in log
    after = {r["step"]: r for r in _metrics(run)}
    assert sorted(after) == list(range(1, steps + 1))  # no duplicated steps from the crashed run
    for step in range(1, steps + 1):
        for key in ("generator_total", "critic_total", "l1", "gradient_penalty"):
            assert after[step][key] == pytest.approx(reference[step][key], rel=1e-5, abs=1e-6), (step, key)
    ema_a = ckpt.load(ckpt.latest(_only_run(tmp_path / "a") / "checkpoints"))["generator_ema"]
    ema_b = ckpt.load(ckpt.latest(run / "checkpoints"))["generator_ema"]
    assert all(torch.allclose(ema_a[k], ema_b[k], rtol=1e-5, atol=1e-6) for k in ema_a)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_end_with_identical_weights(prepared_tiny, tmp_path):
    out, _ = prepared_tiny
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2",
           "--master_addr", "127.0.0.1", "--master_port", str(_free_port()), str(ROOT / "scripts" / "train_gan.py"),
           "--setting", "1_2", "--cpu", "--quiet", *_overrides(out, tmp_path, 3)]
    proc = subprocess.run(cmd, cwd=ROOT, env={**os.environ, "WANDB_MODE": "disabled", "OMP_NUM_THREADS": "1"},
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = json.loads((_only_run(tmp_path) / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["step"] == 3
    assert all(len(v) == 2 and len(set(v)) == 1 for v in summary["replica_digests"].values())
    assert summary["replicas_identical"] is True


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(prepared_tiny, tmp_path, capsys):
    out, _ = prepared_tiny
    assert train_main(["--setting", "1_3", "--cpu", "--quiet", *_overrides(out, tmp_path, 4)]) == 0
    run = _only_run(tmp_path)
    good = ckpt.load(ckpt.latest(run / "checkpoints"))
    code = train_main(["--setting", "1_3", "--cpu", "--quiet", "--resume", str(run),
                       *_overrides(out, tmp_path, 6, **{"loss.l1": "nan"})])
    assert code == 1
    err = capsys.readouterr().err
    assert "non-finite loss term 'generator_total'" in err and "at step 5" in err
    latest = ckpt.load(ckpt.latest(run / "checkpoints"))
    assert latest["step"] == 4
    assert all(torch.equal(latest["generator"][k], good["generator"][k]) for k in good["generator"])


@pytest.mark.slow
def test_fresh_machine_prepares_trains_recognizer_and_gan(tmp_path, monkeypatch):
    """`train_gan.py --setting 1_4` with nothing prepared: SynthPIE, preparation, recognizer, then the GAN."""
    monkeypatch.chdir(tmp_path)  # no runs/ here: the recognizer is trained too
    code = train_main(["--setting", "1_4", "--cpu", "--quiet", f"data.prepared={tmp_path / 'demo' / 'prepared'}",
                       "train.steps=2", "train.eval_every=2"])  # W&B stays disabled in tests (WANDB_MODE wins)
    assert code == 0
    assert (tmp_path / "demo" / "synthpie" / "synthpie.json").exists()
    assert (tmp_path / "demo" / "prepared" / "manifests" / "setting1_128.csv").exists()
    assert list((tmp_path / "runs" / "recognizer").glob("*/recognizer.pt"))
    run = next((tmp_path / "runs" / "gan").iterdir())
    assert list((run / "eval").glob("rank1_val_step_*.json")) and (run / "summary.json").exists()


@pytest.mark.parametrize("target", ["same_flash", "mean_flash", "gallery_flash"])
def test_training_targets_are_the_frontal_shots_they_name(target, prepared_tiny):
    import numpy as np

    from frontalize.data.images import load_square
    from frontalize.data.manifest import read_manifest
    from frontalize.training.data import ProfilePairs

    out, _ = prepared_tiny
    rows = read_manifest(out, "setting1", 64).rows
    pairs = ProfilePairs(out, rows, 64, augment=None, target=target)
    frontal = {}
    for r in rows:
        if r["camera"] == "05_1":
            frontal.setdefault((r["subject"], r["session"], r["recording"]), {})[int(r["flash"])] = r["crop_path"]
    flashes_seen = set()
    for i, r in enumerate(pairs.rows):
        _, tgt, _, _ = pairs[(i, 0)]
        shots = frontal[(r["subject"], r["session"], r["recording"])]
        if target == "same_flash":
            expected = load_square(out / r["target_path"], 64)
        elif target == "gallery_flash":
            expected = load_square(out / shots[7], 64)
        else:
            expected = np.mean([load_square(out / p, 64).astype(np.float32) for p in shots.values()], axis=0).round()
        got = ((tgt.permute(1, 2, 0).numpy() + 1) * 127.5).round()
        assert np.abs(got - expected).max() <= 1, (target, r["crop_path"])
        flashes_seen.add(int(r["flash"]))
    assert len(flashes_seen) > 1  # inputs under other flashes are in, and all aim at their target's light


def test_colour_augmentation_shifts_input_and_target_alike(prepared_tiny):
    from frontalize.data.manifest import read_manifest
    from frontalize.training.data import ProfilePairs, paired_augment

    out, _ = prepared_tiny
    rows = read_manifest(out, "setting1", 64).rows
    plain = ProfilePairs(out, rows, 64, augment=None)
    # a frontal row is its own target: any difference between the two would be an unpaired shift
    i = next(i for i, r in enumerate(plain.rows) if r["camera"] == "05_1")
    x0, t0, _, _ = plain[(i, 0)]
    assert torch.equal(x0, t0)
    coloured = ProfilePairs(out, rows, 64, augment=paired_augment(64, 1.0, False, colour=1.0))
    shifted = 0
    for seed in range(8):
        x, t, _, _ = coloured[(i, seed)]
        assert torch.equal(x, t)
        shifted += (x - x0).abs().mean() > 0.01
    assert shifted >= 6  # nearly every draw changes the colours (a few draws are close to the identity)


def test_validation_subjects_are_held_out_of_training_and_test_is_untouched(prepared_tiny):
    from frontalize.data.manifest import read_manifest
    from frontalize.training.data import FrontalFaces, ProfilePairs
    from frontalize.training.validation import hold_out_subjects, validation_rows

    out, _ = prepared_tiny
    manifest = read_manifest(out, "setting1", 64).rows
    train_ids = sorted({int(r["subject"]) for r in manifest if r["split"] == "train"})
    rows, held = hold_out_subjects(manifest, 1)
    assert held == {train_ids[-1]}
    assert [r for r in rows if r["split"] == "test"] == [r for r in manifest if r["split"] == "test"]
    pairs, frontals = ProfilePairs(out, rows, 64, augment=None), FrontalFaces(out, rows, 64, augment=None)
    assert held.isdisjoint(int(r["subject"]) for r in pairs.rows)
    assert all(f"/{min(held):03d}/" not in str(p) for p in frontals.paths)
    val = validation_rows(rows, gallery_flash=7, protocol="setting1")
    gallery, probes = [r for r in val if r["role"] == "gallery"], [r for r in val if r["role"] == "probe"]
    assert sorted(int(r["subject"]) for r in gallery) == train_ids  # held-out and trained subjects, one shot each
    assert all(r["camera"] == "05_1" and r["flash"] == "7" for r in gallery)
    assert {int(r["subject"]) for r in probes} == held
    assert len(probes) == sum(int(r["subject"]) in held for r in manifest) - 1  # all but its gallery shot
    assert {r["split"] for r in val} == {"test"}  # the report's evaluation reads it as a test split
    with pytest.raises(ValueError, match="no training subject"):
        hold_out_subjects(manifest, len(train_ids))


def test_best_checkpoint_is_chosen_on_validation_never_on_test(prepared_tiny, tmp_path):
    out, _ = prepared_tiny
    rec = random_recognizer(tmp_path / "recognizer.pt")
    for held, runs in ((1, tmp_path / "with_val"), (0, tmp_path / "without")):
        extra = {"loss.identity_features": "recognizer", "loss.recognizer": str(rec), "loss.feature": "1.0",
                 "train.eval_every": "1", "data.val_subjects": str(held)}
        assert train_main(["--setting", "1_4", "--cpu", "--quiet", *_overrides(out, runs, 2, **extra)]) == 0
        run = _only_run(runs)
        on = "val" if held else "test"
        logged = [r for r in _metrics(run) if f"{on}/rank1_frontalized" in r]
        assert [r["step"] for r in logged] == [1, 2]
        assert sorted(p.name for p in (run / "eval").iterdir()) == [f"rank1_{on}_step_0000000{i}.json" for i in (1, 2)]
        assert (run / "checkpoints" / "best.pt").exists() == bool(held)


def test_best_checkpoint_is_chosen_on_every_validation_probe(prepared_tiny, tmp_path, monkeypatch, capsys):
    """The check scores every probe of the validation subjects (a subsample is for test-probe monitoring only), and
    best.pt is the step whose validation table is best; the run's header and summary say what validates."""
    import numpy as np

    from frontalize.data.manifest import read_manifest
    from frontalize.data.multipie import camera_column
    from frontalize.runs.provenance import read_record
    from frontalize.training import trainer as trainer_module

    monkeypatch.setattr(trainer_module, "CHECK_PROBES_PER_YAW", 1)  # a subsample would show at once
    out, _ = prepared_tiny
    rec = random_recognizer(tmp_path / "recognizer.pt")
    extra = {"loss.identity_features": "recognizer", "loss.recognizer": str(rec), "loss.feature": "1.0",
             "train.eval_every": "1", "data.val_subjects": "1", "train.checkpoint_every": "1", "train.keep_last": "5"}
    assert train_main(["--setting", "1_4", "--cpu", "--quiet", *_overrides(out, tmp_path / "runs", 3, **extra)]) == 0
    run = _only_run(tmp_path / "runs")
    rows = read_manifest(out, "setting1", 64).rows
    held = max(int(r["subject"]) for r in rows if r["split"] == "train")
    probes = [r for r in rows if int(r["subject"]) == held and not (r["camera"] == "05_1" and r["flash"] == "7")]
    expected = {c: sum(camera_column(r["camera"]) == c for r in probes) for c in {camera_column(r["camera"]) for r in probes}}
    tables = [json.loads((run / "eval" / f"rank1_val_step_0000000{i}.json").read_text()) for i in (1, 2, 3)]
    for table in tables:
        assert {k: v["probes"] for k, v in table.items() if k != "all"} == expected
        assert table["all"]["probes"] == len(probes)
    means = [np.mean([v["frontalized"] for k, v in t.items() if k != "all"]) for t in tables]
    best = max(range(3), key=lambda i: (means[i], i)) + 1  # ties go to the later step
    assert ckpt.load(run / "checkpoints" / "best.pt")["step"] == best
    record = read_record(run / "checkpoints" / "best.pt")
    assert record.validation == (held,) and held not in record.subjects
    summary = json.loads((run / "summary.json").read_text())
    assert summary["validation"] == {"subjects": [held], "probes": len(probes), "chooses_best": True}
    assert f"best.pt chosen on 1 held-out training subjects ({held}), {len(probes)} validation probes" in capsys.readouterr().out


def test_trainer_refuses_a_scorer_that_knows_validation_or_test_faces(prepared_tiny, tmp_path, capsys):
    from frontalize.config import load_config
    from frontalize.data.manifest import read_manifest
    from frontalize.runs.distributed import DistInfo
    from frontalize.runs.provenance import TrainedOn
    from frontalize.training.trainer import Trainer

    out, _ = prepared_tiny
    dataset = read_manifest(out, "setting1", 64).dataset  # setting1 on `tiny`: 1-2 train (2 validates), 3-6 tested
    runs = tmp_path / "runs"
    for subjects, why in (((1, 2), "it trained on 1 of the 1 validation subjects (2) that choose best.pt"),
                          ((1, 4), "setting1 tests 4 subjects and this network trained on 1 of them (4)")):
        rec = random_recognizer(tmp_path / "recognizer.pt", record=TrainedOn(dataset, "session01", 64, subjects))
        extra = {"loss.identity_features": "recognizer", "loss.recognizer": str(rec), "loss.feature": "1.0",
                 "data.val_subjects": "1"}
        assert train_main(["--setting", "1_4", "--cpu", "--quiet", *_overrides(out, runs, 2, **extra)]) == 1
        assert why in capsys.readouterr().err
        with pytest.raises(ValueError, match="refusing the recognizer"):
            Trainer(load_config("1_4", cpu=True, overrides=_overrides(out, runs, 2, **extra)), tmp_path / "run", DistInfo(),
                    torch.device("cpu"), progress=False)
    assert not (runs / "gan").exists()  # refused before any run folder was made


def test_shipped_generator_is_the_moving_average_of_the_trained_one(prepared_tiny, tmp_path):
    from frontalize.inference.frontalizer import load_generator

    out, _ = prepared_tiny
    extra = {"train.ema": "0.5", "train.checkpoint_every": "1", "train.keep_last": "5"}
    assert train_main(["--setting", "1_4", "--cpu", "--quiet", *_overrides(out, tmp_path, 2, **extra)]) == 0
    run = _only_run(tmp_path)
    one, two = (ckpt.load(run / "checkpoints" / f"step_0000000{i}.pt") for i in (1, 2))
    g1, g2 = one["generator"], two["generator"]
    assert all(torch.equal(one["generator_ema"][k], g1[k]) for k in g1)  # the first update copies
    assert all(torch.allclose(two["generator_ema"][k], 0.5 * g1[k] + 0.5 * g2[k], atol=1e-6) for k in g1)
    assert any(not torch.equal(g1[k], g2[k]) for k in g1)  # the weights did move
    shipped, _ = load_generator(run / "checkpoints" / "step_00000002.pt", torch.device("cpu"))
    assert all(torch.equal(v, two["generator_ema"][k]) for k, v in shipped.state_dict().items())


def test_encoder_pretraining_learns_identity_and_the_generator_starts_from_it(prepared_tiny, tmp_path, capsys):
    from frontalize.config import load_config
    from frontalize.models.vgg import VGGFaceEncoder
    from frontalize.runs.distributed import DistInfo
    from frontalize.training.trainer import PRETRAINED_ENCODER, Trainer

    out, _ = prepared_tiny
    extra = {"model.pretrain.steps": "40", "model.pretrain.batch_size": "8", "model.pretrain.lr": "1e-3"}
    cfg = load_config("1_4", cpu=True, overrides=_overrides(out, tmp_path, 1, **extra))
    run = tmp_path / "run"
    trainer = Trainer(cfg, run, DistInfo(), torch.device("cpu"), progress=False)
    summary = json.loads((run / PRETRAINED_ENCODER).with_suffix(".json").read_text())
    assert summary["steps"] == 40 and summary["subjects"] == len({r["subject"] for r in trainer.rows if r["split"] == "train"})
    assert summary["loss_last_tenth"] < 0.7 * summary["loss_first_tenth"]  # it learned to tell the subjects apart
    assert summary["train_accuracy_last_tenth"] > summary["train_accuracy_first_tenth"]
    assert "encoder pretrained on" in capsys.readouterr().out
    pretrained = VGGFaceEncoder(width=cfg.model.width, weights=run / PRETRAINED_ENCODER).state_dict()
    assert all(torch.equal(v, pretrained[k]) for k, v in trainer.G.encoder.state_dict().items())
    random_init = Trainer(load_config("1_4", cpu=True, overrides=_overrides(out, tmp_path, 1)), tmp_path / "plain",
                          DistInfo(), torch.device("cpu"), progress=False)
    assert not torch.equal(random_init.G.encoder.fc7.weight, trainer.G.encoder.fc7.weight)
    # a resumed run reuses the file instead of pretraining again
    stamp = (run / PRETRAINED_ENCODER).stat().st_mtime_ns
    again = Trainer(cfg, run, DistInfo(), torch.device("cpu"), progress=False)
    assert (run / PRETRAINED_ENCODER).stat().st_mtime_ns == stamp
    assert torch.equal(again.G.encoder.fc7.weight, trainer.G.encoder.fc7.weight)
    assert "encoder pretrained on" not in capsys.readouterr().out


def test_the_gallery_flash_chosen_at_preparation_is_used_everywhere(tiny_synthpie, tmp_path):
    """`--gallery-flash 10`: recorded with the manifests; the trainer's validation gallery, its gallery_flash
    targets and its sample rows follow it instead of assuming flash 07."""
    from frontalize.config import load_config
    from frontalize.data.images import load_square
    from frontalize.data.manifest import read_manifest
    from frontalize.preparation.prep import PrepConfig, prepare
    from frontalize.runs.distributed import DistInfo
    from frontalize.training.trainer import Trainer

    out = tmp_path / "prepared"
    prepare(PrepConfig(root=tiny_synthpie, out=out, size=64, workers=1, progress=False, gallery_flash=10,
                       protocols=("setting1",)))
    manifest = read_manifest(out, "setting1", 64)
    assert manifest.gallery_flash == 10
    assert {r["flash"] for r in manifest.rows if r["role"] == "gallery"} == {"10"}
    cfg = load_config("1_4", cpu=True, overrides=_overrides(out, tmp_path, 1, **{"data.val_subjects": "1",
                                                                                 "data.target": "gallery_flash"}))
    trainer = Trainer(cfg, tmp_path / "run", DistInfo(), torch.device("cpu"), progress=False)
    assert trainer.gallery_flash == 10
    assert {r["flash"] for r in trainer.check_rows if r["role"] == "gallery"} == {"10"}
    assert all(r["flash"] == "10" for r in trainer.samples if r["camera"] != "05_1")  # at 0 degrees it is the gallery shot
    frontal_10 = {(r["subject"], r["recording"]): r["crop_path"] for r in manifest.rows
                  if r["camera"] == "05_1" and r["flash"] == "10"}
    pairs = trainer.inputs
    pairs.augment = None
    for i in (0, len(pairs.rows) - 1):
        _, target, _, _ = pairs[(i, 0)]
        expected = load_square(out / frontal_10[(pairs.rows[i]["subject"], pairs.rows[i]["recording"])], 64)
        assert ((target.permute(1, 2, 0).numpy() + 1) * 127.5).round().astype("uint8").tolist() == expected.tolist()


def test_mixing_in_the_runs_own_validation_or_test_subjects_is_refused(prepared_tiny, tmp_path, capsys):
    """data.mix of the run's own dataset: the hold-out applies to the run's manifest only, so a mixed-in training
    split that holds a validation (or tested) subject would train on the faces that choose best.pt: refused, named."""
    out, _ = prepared_tiny
    code = train_main(["--setting", "setting1_4r_mixed", "--cpu", "--quiet",
                       *_overrides(out, tmp_path, 2, **{"data.mix": str(out), "data.val_subjects": "1"})])
    err = capsys.readouterr().err
    assert code != 0 and "holds subjects that this run tests or validates on (1: " in err, err
    assert not (tmp_path / "gan").exists() or not list((tmp_path / "gan").rglob("*.pt"))
