"""Every network records what it trained on; evaluation and the "newest run" lookups refuse what saw the test subjects."""
import json
import shutil

import pytest
import torch

from frontalize.cli.main import main as cli
from frontalize.data.manifest import manifest_path, read_manifest
from frontalize.runs import checkpoint as ckpt
from frontalize.runs.provenance import RECORD_KEY, TrainedOn, Use, manifest_fingerprint, read_record
from conftest import random_recognizer, train_tiny_gan

# prepared `tiny` has 6 subjects: setting1 trains 1-2 and tests 3-6; session01 trains 1-5 and tests 6


@pytest.fixture(scope="module")
def session01_gan(prepared_tiny, tmp_path_factory):
    """A session01 generator: it trained on subjects 1-5, three of them setting1 test subjects."""
    out, _ = prepared_tiny
    return train_tiny_gan(out, tmp_path_factory.mktemp("session01_runs"), "session01_3")


def _dataset(prepared) -> str:
    return read_manifest(prepared, "setting1", 64).dataset


def test_a_gan_checkpoint_records_its_training_split_and_validation(prepared_tiny, tiny_gan, session01_gan):
    out, _ = prepared_tiny
    record = read_record(tiny_gan)
    assert record == TrainedOn(_dataset(out), "setting1", 64, (1, 2), (), manifest_fingerprint([manifest_path(out, "setting1", 64)]),
                               {"setting": "setting1_3"})
    assert read_record(session01_gan).subjects == (1, 2, 3, 4, 5)


def test_eval_refuses_a_generator_that_trained_on_tested_subjects(prepared_tiny, session01_gan, tmp_path, capsys):
    out, _ = prepared_tiny
    rec = random_recognizer(tmp_path / "recognizer.pt")
    code = cli(["eval", "--checkpoint", str(session01_gan), "--protocol", "setting1", "--recognizer", str(rec),
                "--prepared", str(out), "--out", str(tmp_path / "report"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert f"refusing the generator {session01_gan}: setting1 tests 4 subjects and this network trained on 3 of them (3-5)" in err
    assert not (tmp_path / "report").exists()


@pytest.mark.parametrize("role,option", [("shared recognizer", "--recognizer"), ("independent judge", "--judge-recognizer"),
                                         ("all-pose competitor", "--competitor-recognizer")])
def test_eval_refuses_a_recognizer_that_trained_on_tested_subjects(prepared_tiny, tiny_gan, tmp_path, capsys, role, option):
    out, _ = prepared_tiny
    clean = random_recognizer(tmp_path / "clean.pt")
    seen = random_recognizer(tmp_path / "seen.pt", record=TrainedOn(_dataset(out), "session01", 64, (1, 2, 3, 4, 5)))
    args = ["eval", "--checkpoint", str(tiny_gan), "--protocol", "setting1", "--prepared", str(out), "--quiet",
            "--out", str(tmp_path / "report"), "--recognizer", str(clean), option, str(seen)]
    assert cli(args) == 2
    assert f"refusing the {role} {tmp_path / 'seen.pt'}: setting1 tests 4 subjects and this network trained on 3 of them" \
        in capsys.readouterr().err
    # trained at another crop size
    random_recognizer(tmp_path / "seen.pt", record=TrainedOn(_dataset(out), "setting1", 128, (1, 2)))
    assert cli(args) == 2
    assert "trained on 128-px crops, the data is 64 px" in capsys.readouterr().err
    if option == "--judge-recognizer":  # another dataset's people are other people: the same ids are no overlap
        random_recognizer(tmp_path / "seen.pt", record=TrainedOn("Multi-PIE", "session01", 64, (1, 2, 3, 4, 5)))
        assert cli([*args, "--no-warp-row", "--max-probes-per-yaw", "1"]) == 0


def test_eval_refuses_unrecorded_checkpoints_with_a_clear_message(prepared_tiny, tiny_gan, tmp_path, capsys):
    out, _ = prepared_tiny
    state = ckpt.load(tiny_gan)
    del state[RECORD_KEY]
    old = tmp_path / "old.pt"
    ckpt.save(old, state)
    rec = random_recognizer(tmp_path / "recognizer.pt")
    common = ["--protocol", "setting1", "--prepared", str(out), "--out", str(tmp_path / "report"), "--quiet"]
    assert cli(["eval", "--checkpoint", str(old), "--recognizer", str(rec), *common]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {old}: this generator checkpoint does not record what it was trained on") and "Traceback" not in err
    unrecorded = torch.load(rec, weights_only=True)
    del unrecorded[RECORD_KEY]
    ckpt.save(tmp_path / "old_recognizer.pt", unrecorded)
    assert cli(["eval", "--checkpoint", str(tiny_gan), "--recognizer", str(tmp_path / "old_recognizer.pt"), *common]) == 2
    assert "this recognizer checkpoint does not record what it was trained on" in capsys.readouterr().err


def test_eval_without_checkpoint_takes_the_newest_generator_that_suits_the_protocol(prepared_tiny, tiny_gan, session01_gan,
                                                                                     tmp_path, capsys):
    """The issue's scenario: a session01 run trained after a setting1 run is never picked for setting1."""
    out, _ = prepared_tiny
    runs = tmp_path / "runs"
    rec = random_recognizer(tmp_path / "recognizer.pt")
    shutil.copytree(session01_gan.parent.parent, runs / "gan" / "000-session01_3")
    quick = ["--quiet", "--no-warp-row", "--max-probes-per-yaw", "1"]
    common = ["--protocol", "setting1", "--runs-dir", str(runs), "--recognizer", str(rec), "--prepared", str(out),
              "--out", str(tmp_path / "report"), *quick]
    assert cli(["eval", *common]) == 2  # only a session01 run: nothing suits, and the error says why
    err = capsys.readouterr().err
    assert f"no generator under {runs / 'gan'} suits setting1; skipped:" in err
    assert f"000-session01_3/checkpoints/{session01_gan.name}: it saw 3 of setting1's 4 test subjects (3-5)" in err
    shutil.copytree(tiny_gan.parent.parent, runs / "gan" / "001-setting1_3")
    shutil.copytree(session01_gan.parent.parent, runs / "gan" / "002-session01_3")  # the newest run
    assert cli(["eval", *common]) == 0
    title = json.loads((tmp_path / "report" / "report_setting1.json").read_text())["title"]
    assert "(001-setting1_3/" in title
    assert cli(["eval", "--runs-dir", str(runs), "--recognizer", str(rec), "--prepared", str(out), "--out",
                str(tmp_path / "own"), *quick]) == 0  # no protocol asked: the newest, on its own
    assert "(002-session01_3/" in json.loads((tmp_path / "own" / "report_session01.json").read_text())["title"]


def test_newest_recognizer_skips_unsuitable_ones(prepared_tiny, tmp_path):
    from frontalize.runs.folders import NoneSuits, newest_recognizer

    out, _ = prepared_tiny
    manifest = read_manifest(out, "setting1", 64)
    use = Use("setting1", manifest.dataset, 64, frozenset(manifest.subjects("test")), frozenset({2}))
    folder = tmp_path / "recognizer"
    for name, subjects in (("000-clean", (1,)), ("001-tested", (1, 2, 3)), ("002-validation", (1, 2))):
        (folder / name).mkdir(parents=True)
        random_recognizer(folder / name / "recognizer.pt", record=TrainedOn(manifest.dataset, "session01", 64, subjects))
    assert newest_recognizer(tmp_path, check=use.check("recognizer")) == folder / "000-clean" / "recognizer.pt"
    assert newest_recognizer(tmp_path) == folder / "002-validation" / "recognizer.pt"  # no check: simply the newest
    shutil.rmtree(folder / "000-clean")
    with pytest.raises(NoneSuits) as e:
        newest_recognizer(tmp_path, check=use.check("recognizer"), wanted=use.describe())
    text = str(e.value)
    assert "002-validation/recognizer.pt: it saw 1 of the 1 validation subjects (2)" in text
    assert "001-tested/recognizer.pt: it saw 1 of setting1's 4 test subjects (3); it saw 1 of the 1 validation" in text


def test_recognizer_training_rows_never_include_a_tested_or_validation_subject(prepared_tiny):
    from frontalize.data.protocols import validation_subjects
    from frontalize.recognition.config import load_recognizer_config
    from frontalize.recognition.train import build_dataset

    out, _ = prepared_tiny
    common = [f"data.prepared={out}", "data.size=64", "data.protocol=session01", "data.max_yaw=null"]
    cfg = load_recognizer_config(None, [*common, "data.exclude_test_of=[session01]", "data.exclude_validation=1"])
    dataset, record = build_dataset(cfg)
    session01 = read_manifest(out, "session01", 64)
    never = session01.subjects("test") | validation_subjects(session01.subjects("train"), 1)
    assert never == {5, 6}
    used = {int(r["subject"]) for r in dataset.rows}
    assert used == {1, 2, 3, 4} and record.subjects == (1, 2, 3, 4)
    assert record.protocol == "session01" and record.size == 64 and record.dataset == session01.dataset
    assert record.fingerprint == manifest_fingerprint([manifest_path(out, "session01", 64)])
    # setting1's test subjects (3-6) and both protocols' validation subjects (2, 5) leave one identity: refused
    cfg = load_recognizer_config(None, [*common, "data.exclude_test_of=[setting1,session01]", "data.exclude_validation=1"])
    with pytest.raises(ValueError, match="fewer than 2 training identities"):
        build_dataset(cfg)
    cfg = load_recognizer_config(None, [*common, "data.exclude_test_of=[setting1,session01]", "data.exclude_validation=0"])
    dataset, record = build_dataset(cfg)
    assert {int(r["subject"]) for r in dataset.rows} == {1, 2} and record.subjects == (1, 2)
    assert record.fingerprint == manifest_fingerprint([manifest_path(out, p, 64) for p in ("session01", "setting1")])


def test_the_recipes_leave_out_the_cpu_configurations_validation_subjects():
    from frontalize.config import CONFIG_DIR, load_config
    from frontalize.recognition.config import load_recognizer_config

    val = load_config("setting1_4g", cpu=True).data.val_subjects
    assert val == 12
    for recipe in ("recognizer_synthpie", "recognizer_synthpie_judge", "recognizer_synthpie_allpose"):
        data = load_recognizer_config(CONFIG_DIR / f"{recipe}.yaml").data
        assert data.exclude_validation == val and "setting1" in data.exclude_test_of, recipe
