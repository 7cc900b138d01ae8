"""Setting 2 end to end: its named GAN settings, recognizers on its own training split, the probe subsample, the
papers' folded table, and the demo on `tiny_sessions`."""
import csv
import json
from collections import Counter

import pytest

from frontalize.config import CONFIG_DIR, load_config
from frontalize.data.manifest import ManifestWriter
from frontalize.data.multipie import CAMERA_BY_NAME, ShotId
from frontalize.data.protocols import PROTOCOLS, make_split, validation_subjects
from frontalize.evaluation.identification import even_quotas, subsample_probes
from frontalize.synthpie.generate import PRESETS

DATASET = "SynthPIE test roster"


# ------------------------------------------------------------------------------------------ named settings
@pytest.mark.parametrize("n", ["4", "4r"])
def test_setting2_settings_are_the_setting1_ones_on_setting2(n):
    """setting2_4 / setting2_4r: setting1's, CPU section included (inherited, not copied), on the setting2 protocol;
    setting2_4r's CPU configuration checks its 1,743 validation probes less often, and changes nothing else."""
    from omegaconf import OmegaConf

    own_cpu = OmegaConf.to_container(OmegaConf.load(CONFIG_DIR / f"setting2_{n}.yaml").get("cpu", OmegaConf.create({})))
    assert own_cpu == ({"train": {"eval_every": 500}} if n == "4r" else {})
    for cpu in (False, True):
        setting2 = load_config(f"setting2_{n}", cpu=cpu)
        setting1 = load_config(f"setting1_{n}", cpu=cpu, overrides=["data.protocol=setting2"])
        assert setting2.setting == f"setting2_{n}" and setting2.data.protocol == "setting2"
        setting1.setting = setting2.setting
        if cpu and own_cpu:
            assert setting2.train.eval_every == 500 != setting1.train.eval_every
            setting1.train.eval_every = setting2.train.eval_every
        assert setting2 == setting1
    assert f"inherit: setting1_{n}" in (CONFIG_DIR / f"setting2_{n}.yaml").read_text()


def test_setting2_4r_trains_the_warp_refiner_in_setting1_4rs_cpu_configuration():
    cfg = load_config("setting2_4r", cpu=True)
    parent = load_config("setting1_4r", cpu=True)
    assert cfg.model.geometry == "refine"
    assert (cfg.loss.gan, cfg.optim.lr, cfg.train.steps) == (parent.loss.gan, parent.optim.lr, parent.train.steps)
    assert load_config("setting1_4r").train.steps != cfg.train.steps  # the inherited CPU section did apply


# ------------------------------------------------------------------------------------------ recognizers
def _roster_manifest(prepared):
    """setting2's manifest for the `sessions` roster (ids 1-346 with gaps, Multi-PIE's attendance), without images:
    per visit and neutral recording, cameras 14_0 (-15), 05_1 (0) and 19_0 (+45) under flash 07."""
    preset = PRESETS["sessions"]
    split = make_split(PROTOCOLS["setting2"], {ses: list(preset.attendees(ses)) for ses in preset.sessions})
    with ManifestWriter(prepared, ["setting2"], 128, 7, DATASET) as w:
        for subject, session in preset.visits():
            for recording in preset.recordings_of(session):
                for camera in ("14_0", "05_1", "19_0"):
                    shot = ShotId(subject, session, recording, camera, 7)
                    role = ("train" if subject in split.train else
                            "gallery" if split.is_gallery(subject, session, recording, camera, 7, 7) else "probe")
                    w.write("setting2", {"crop_path": f"crops/{shot.filename}", "subject": subject, "session": session,
                                         "recording": recording, "expression": "neutral", "camera": camera,
                                         "yaw": CAMERA_BY_NAME[camera].yaw, "flash": 7, "split": split.split_of(subject),
                                         "role": role, "target_path": "", "landmark_source": "sidecar", "source_path": "",
                                         "landmarks": "", "pose": ""})
    return split


@pytest.mark.parametrize("recipe", ["recognizer_synthpie", "recognizer_synthpie_judge"])
def test_setting2_recognizers_train_on_its_training_split_less_validation_and_test(recipe, tmp_path):
    from frontalize.pipeline.recognizer import recognizer_split
    from frontalize.recognition.config import load_recognizer_config
    from frontalize.recognition.train import build_dataset

    split = _roster_manifest(tmp_path)
    assert split.train == frozenset(range(1, 201)) and len(split.test) == 137 and max(split.test) == 346
    validation = validation_subjects(split.train, load_config("setting2_4r", cpu=True).data.val_subjects)
    assert validation == frozenset(range(189, 201))
    cfg = load_recognizer_config(CONFIG_DIR / f"{recipe}.yaml", [f"data.prepared={tmp_path}"], protocol="setting2")
    dataset, record = build_dataset(cfg)
    used = {int(r["subject"]) for r in dataset.rows}
    assert used == set(range(1, 189)) and record.subjects == tuple(range(1, 189))
    assert not used & (split.test | validation)
    assert {int(r["yaw"]) for r in dataset.rows} == {-15, 0}  # near-frontal only: +45 left out
    assert record.protocol == "setting2" == recognizer_split("setting2", CONFIG_DIR / f"{recipe}.yaml")
    assert record.notes["excluded_validation_subjects"] == list(range(189, 201))
    assert max(Counter(int(r["subject"]) for r in dataset.rows).values()) <= cfg.data.per_subject
    # as written (no protocol asked): session01's split less setting1/session01 tests; for setting1 (the demo, which
    # prepares setting1 alone): setting1's own split, less its tests
    assert load_recognizer_config(CONFIG_DIR / f"{recipe}.yaml").data.protocol == "session01"
    assert recognizer_split("setting1", CONFIG_DIR / f"{recipe}.yaml") == "setting1"
    assert recognizer_split("session01", CONFIG_DIR / f"{recipe}.yaml") is None
    one = load_recognizer_config(CONFIG_DIR / f"{recipe}.yaml", protocol="setting1").data
    assert one.protocol == "setting1" and list(one.exclude_test_of) == ["setting1"]


def test_setting2_lookups_and_eval_refuse_what_saw_its_test_or_validation_subjects(tmp_path):
    from frontalize.data.manifest import read_manifest
    from frontalize.pipeline.evaluate import check_networks
    from frontalize.pipeline.recognizer import scorer_use
    from frontalize.runs.provenance import Contaminated, TrainedOn

    _roster_manifest(tmp_path)
    use = scorer_use(tmp_path, "setting2", 128, 12)
    assert use.split == "setting2" and 346 in use.tested and 275 not in use.tested  # 275: an id Multi-PIE never used
    clean = TrainedOn(DATASET, "setting2", 128, tuple(range(1, 189)))
    assert use.refusal(clean) is None
    newcomer = TrainedOn(DATASET, "setting2", 128, (*range(1, 189), 346))
    assert "it saw 1 of setting2's 137 test subjects (346)" in use.refusal(newcomer)
    validating = TrainedOn(DATASET, "setting2", 128, tuple(range(1, 195)))
    assert "it saw 6 of the 12 validation subjects (189-194)" in use.refusal(validating)
    setting1_family = TrainedOn(DATASET, "session01", 128, tuple(range(1, 89)))  # clean, but not setting2's split
    assert "it trained on session01's training split, not setting2's" in use.refusal(setting1_family)
    manifest = read_manifest(tmp_path, "setting2", 128)
    check_networks([("shared recognizer", tmp_path / "clean.pt", clean)], "setting2", manifest, 128)
    with pytest.raises(Contaminated, match=r"setting2 tests 137 subjects and this network trained on 1 of them \(346\)"):
        check_networks([("independent judge", tmp_path / "j.pt", newcomer)], "setting2", manifest, 128)


# ------------------------------------------------------------------------------------------ probe subsample
def _probes(counts: dict) -> list[dict]:
    """counts: (camera, flash) -> how many probes (subjects 1..n, session 01)."""
    return [{"subject": str(s), "camera": camera, "flash": str(flash), "session": "1", "recording": "1",
             "crop_path": f"{camera}_{flash}_{s}"}
            for (camera, flash), n in counts.items() for s in range(1, n + 1)]


def test_probe_subsample_is_fixed_by_its_seed_and_spread_over_flashes():
    probes = _probes({("08_0", 4): 30, ("08_0", 7): 30, ("08_0", 10): 30, ("19_0", 4): 2, ("19_0", 7): 30,
                      ("19_0", 10): 30, ("05_1", 4): 3})
    picked = subsample_probes(probes, 12, seed=0)
    assert picked == subsample_probes(list(probes), 12, seed=0)  # the same probes, seed and size: the same subset
    assert picked != subsample_probes(probes, 12, seed=1)
    per = Counter((r["camera"], r["flash"]) for r in picked)
    assert per == {("08_0", "4"): 4, ("08_0", "7"): 4, ("08_0", "10"): 4,  # 12 per column, evenly over the flashes
                   ("19_0", "4"): 2, ("19_0", "7"): 5, ("19_0", "10"): 5,  # a small stratum: the others fill up
                   ("05_1", "4"): 3}  # fewer probes than asked: all of them
    assert len({r["crop_path"] for r in picked}) == len(picked)
    assert subsample_probes(probes, None) is probes
    with pytest.raises(ValueError, match="at least 1 probe per column"):
        subsample_probes(probes, 0)


def test_even_quotas_never_exceed_a_stratum_and_use_the_whole_budget():
    assert even_quotas({4: 10, 7: 10, 10: 10}, 10) == {4: 4, 7: 3, 10: 3}
    assert even_quotas({4: 1, 7: 10, 10: 2}, 9) == {4: 1, 7: 6, 10: 2}
    assert even_quotas({4: 1, 7: 2}, 50) == {4: 1, 7: 2}


# ------------------------------------------------------------------------------------------ the demo
def test_setting2_demo_runs_the_whole_chain_on_tiny_sessions(tiny_sessions_synthpie, tmp_path, capsys):
    """`frontalize demo --protocol setting2` on `tiny_sessions` with short trainings: every step, the folded table,
    the subsample in the header, each step's time."""
    import shutil

    from frontalize.cli.main import main

    out, runs = tmp_path / "demo", tmp_path / "runs"
    shutil.copytree(tiny_sessions_synthpie, out / "synthpie")
    args = ["demo", "--protocol", "setting2", "--out", str(out), "--runs-dir", str(runs), "--quiet",
            "--preset", "tiny_sessions", "--probes-per-column", "4", "--real-faces-probes", "2",
            # `tiny_sessions` has 4 setting2 training subjects: none to spare for validation
            "--recognizer", "train.epochs=1", "train.batch_size=16", "data.workers=0", "data.exclude_validation=0",
            "eval.probes_per_column=2",
            "--gan", "train.steps=2", "train.eval_every=2", "data.workers=0", "data.val_subjects=0"]
    assert main(args) == 0
    text = capsys.readouterr().out
    for k in range(1, 9):
        assert f"[{k}/8]" in text
    assert "alone: python scripts/train_gan.py --setting setting2_4r --cpu" in text
    assert "alone: python scripts/train_recognizer.py --config configs/recognizer_synthpie.yaml --protocol setting2" in text
    report = out / "report"
    doc = json.loads((report / "report_setting2.json").read_text())
    assert doc["protocol"] == "setting2" and doc["subsample"]["per_column"] == 4
    assert doc["table"]["all"]["probes"] == doc["subsample"]["scored"] < doc["subsample"]["of"]
    md = (report / "rank1_setting2.md").read_text()
    assert f"Probes: {doc['subsample']['scored']:,} of the {doc['subsample']['of']:,}" in md
    assert "| yaw | ±15° | ±45° | ±90° | all |" in md
    assert "| rank-1 raw+frontalized fusion, independent judge (%) |" in md
    for name in ("rank1_setting2_by_abs_yaw.png", "rank1_setting2_by_abs_yaw.csv", "samples_setting2.png"):
        assert (report / name).exists()
    records = {role["role"]: role["record"] for role in doc["networks"]}
    for role in ("shared recognizer", "independent judge", "generator"):
        assert records[role]["protocol"] == "setting2" and not set(records[role]["subjects"]) & {5, 7}
    timings = json.loads((out / "timings.json").read_text())
    assert list(timings) == ["synthpie", "preparation", "shared recognizer", "judge", "GAN", "report", "real faces", "infer",
                             "total"]
    assert (out / "prepared" / "preview_sessions_128.png").exists()
    assert [p.name for p in sorted((out / "infer").iterdir())] == ["007_02_01_190_07_frontal.png", "007_02_01_190_07_side.png"]


def test_the_demo_refuses_a_preset_without_the_protocols_sessions(tiny_synthpie, tmp_path, capsys):
    import shutil

    from frontalize.cli.main import main

    out = tmp_path / "demo"
    shutil.copytree(tiny_synthpie, out / "synthpie")
    assert main(["demo", "--protocol", "setting2", "--preset", "tiny", "--out", str(out), "--runs-dir",
                 str(tmp_path / "runs"), "--quiet"]) == 2
    assert "SynthPIE `tiny` has no setting2 data (needs 2 sessions, the data has 1): use the preset `sessions`" \
        in capsys.readouterr().err
