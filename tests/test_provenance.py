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
            "--out", str(tmp_path / "report"), "--recognizer", str(clean), "--external", str(clean), option, str(seen)]
    assert cli(args) == 2
    assert f"refusing the {role} {tmp_path / 'seen.pt'}: setting1 tests 4 subjects and this network trained on 3 of them" \
        in capsys.readouterr().err
    # the user's word does not outweigh a record that shows tested subjects
    assert cli([*args, "--external", str(seen)]) == 2
    assert "this network trained on 3 of them" in capsys.readouterr().err
    # trained at another crop size
    random_recognizer(tmp_path / "seen.pt", record=TrainedOn(_dataset(out), "setting1", 128, (1, 2)))
    assert cli(args) == 2
    assert "trained on 128-px crops, the data is 64 px" in capsys.readouterr().err


def test_another_datasets_name_is_no_proof_of_other_people(prepared_tiny, tiny_gan, tmp_path, capsys):
    """Subject ids are compared only within one dataset; a record naming another one cannot show whom it saw (a
    SynthPIE tree prepared without its marker is called "Multi-PIE"), so it needs the user's word."""
    out, _ = prepared_tiny
    other = TrainedOn("Multi-PIE", "session01", 64, (1, 2, 3, 4, 5))
    shared = random_recognizer(tmp_path / "shared.pt", seed=1, record=other)
    judge = random_recognizer(tmp_path / "judge.pt", seed=2, record=other)
    args = ["eval", "--checkpoint", str(tiny_gan), "--protocol", "setting1", "--prepared", str(out), "--quiet",
            "--out", str(tmp_path / "report"), "--recognizer", str(shared), "--judge-recognizer", str(judge),
            "--no-warp-row", "--max-probes-per-yaw", "1"]
    assert cli(args) == 2
    err = capsys.readouterr().err
    assert f"refusing the shared recognizer {shared}: it trained on Multi-PIE's people" in err and "Traceback" not in err
    assert cli([*args, "--external", str(shared)]) == 2
    err = capsys.readouterr().err
    assert f"refusing the independent judge {judge}: it trained on Multi-PIE's people and the data is " \
           f"{_dataset(out)}'s: a dataset's name alone cannot show they are other people. If it was trained elsewhere, " \
           f"on people these data do not test, declare it: --external {judge}" in err and "Traceback" not in err
    assert cli([*args, "--external", str(shared), "--external", str(judge)]) == 0
    doc = json.loads((tmp_path / "report" / "report_setting1.json").read_text())
    described = {n["role"]: n["trained_on"] for n in doc["networks"]}
    assert described["independent judge"].endswith("external, user-declared (--external)")
    assert "external, user-declared" not in described["generator"]
    md = (tmp_path / "report" / "rank1_setting1.md").read_text()
    assert f"- independent judge `{judge}`: Multi-PIE, session01 training split: 5 subjects (1-5); 64 px; external, " \
           "user-declared (--external)" in md


def _without_dataset(prepared, tmp_path):
    """A copy of ``prepared`` (crops linked) whose setting1 manifest was written before the dataset was recorded."""
    old = tmp_path / "old_prepared"
    old.mkdir()
    for item in prepared.iterdir():
        if item.name != "manifests":
            (old / item.name).symlink_to(item)
    shutil.copytree(prepared / "manifests", old / "manifests")
    meta = old / "manifests" / "setting1_64.json"
    doc = json.loads(meta.read_text())
    del doc["dataset"]
    meta.write_text(json.dumps(doc))
    return old


def test_manifests_without_a_dataset_are_refused_with_the_prep_command(prepared_tiny, tiny_gan, tmp_path, capsys):
    """Once waved through (another name, so no overlap): a manifest that does not say whose people these are."""
    from frontalize.data.manifest import UNKNOWN_DATASET

    out, _ = prepared_tiny
    old = _without_dataset(out, tmp_path)
    assert read_manifest(old, "setting1", 64).dataset == UNKNOWN_DATASET
    rec = random_recognizer(tmp_path / "recognizer.pt", record=TrainedOn(_dataset(out), "session01", 64, (1, 2, 3, 4, 5)))
    assert cli(["eval", "--checkpoint", str(tiny_gan), "--protocol", "setting1", "--prepared", str(old), "--quiet",
                "--recognizer", str(rec), "--out", str(tmp_path / "report"), "--no-warp-row"]) == 2
    err = capsys.readouterr().err
    assert f"error: {old / 'manifests' / 'setting1_64.csv'}: prepared before frontalize recorded whose people these are" in err
    assert f"Prepare it again: python data_prep/multipie.py --root ROOT --out {old} --size 64" in err
    assert "Traceback" not in err and not (tmp_path / "report").exists()
    # and below the command line: no check passes a network on data of unknown people, nor one trained on such data
    from frontalize.runs.provenance import Unproven, check_clean

    seen = TrainedOn(_dataset(out), "session01", 64, (1, 2, 3, 4, 5))
    with pytest.raises(Unproven, match="the data's manifests do not say whose people they are"):
        check_clean("shared recognizer", "r.pt", seen, "setting1", {3, 4, 5, 6}, UNKNOWN_DATASET, 64)
    with pytest.raises(Unproven, match="it trained on manifests prepared before frontalize recorded whose people"):
        check_clean("shared recognizer", "r.pt", TrainedOn(UNKNOWN_DATASET, "session01", 64, (1, 2, 3, 4, 5)),
                    "setting1", {3, 4, 5, 6}, _dataset(out), 64)
    use = Use("setting1", UNKNOWN_DATASET, 64, frozenset({3, 4, 5, 6}))
    assert "the data's manifests do not say whose people they are" in use.refusal(seen)


def test_a_recognizer_step_checkpoint_carries_and_is_held_to_its_record(prepared_tiny, tiny_gan, tmp_path, capsys):
    """Once taken for an external network: a step checkpoint of a recognizer that trained on tested subjects, given
    as --recognizer (with or without --recognizer-arch)."""
    from frontalize.recognition.config import load_recognizer_config
    from frontalize.recognition.recognizer import Recognizer
    from frontalize.recognition.train import train

    out, _ = prepared_tiny
    cfg = load_recognizer_config(None, [f"data.prepared={out}", "data.size=64", "data.workers=0", "data.exclude_test_of=[]",
                                        "data.max_yaw=0", "train.epochs=1", "train.batch_size=8", "eval.protocols=[]",
                                        f"train.runs_dir={tmp_path / 'runs'}", "wandb.mode=disabled"])
    final = train(cfg, progress=False)
    step = ckpt.latest(final.parent / "checkpoints")
    assert read_record(step) == read_record(final) and read_record(step).subjects == (1, 2, 3, 4, 5)
    common = ["eval", "--checkpoint", str(tiny_gan), "--protocol", "setting1", "--prepared", str(out), "--quiet",
              "--out", str(tmp_path / "report"), "--recognizer", str(step)]
    for extra in ([], ["--recognizer-arch", "r18"]):  # its record decides, whatever the architecture given
        assert cli([*common, *extra]) == 2
        err = capsys.readouterr().err
        assert f"refusing the shared recognizer {step}: setting1 tests 4 subjects and this network trained on 3 of them " \
               "(3-5)" in err and "Traceback" not in err
    from frontalize.recognition.recognizer import backbone_config

    state = ckpt.load(step)
    assert backbone_config(state) == {"arch": "tiny", "width": 1.0, "embedding": 512} and "optimizer" in state
    assert Recognizer.load(step).dim == Recognizer.load(final).dim == 128  # its own architecture: no --recognizer-arch
    # a step checkpoint written before it carried its architecture: read from its recognizer config
    del state["backbone_config"]
    ckpt.save(tmp_path / "old_step.pt", state)
    assert Recognizer.load(tmp_path / "old_step.pt").dim == 128


def test_a_bare_state_dict_is_taken_only_as_declared_external(prepared_tiny, tiny_gan, tmp_path, capsys):
    """Once taken silently: an arcface_torch-style backbone.pth (weights only) with --recognizer-arch."""
    from frontalize.recognition.iresnet import get_backbone

    out, _ = prepared_tiny
    torch.manual_seed(0)
    torch.save(get_backbone("r18").state_dict(), tmp_path / "full_width.pth")  # what arcface_torch publishes
    args = ["eval", "--checkpoint", str(tiny_gan), "--protocol", "setting1", "--prepared", str(out), "--quiet",
            "--out", str(tmp_path / "report"), "--recognizer", str(tmp_path / "full_width.pth"), "--recognizer-arch", "r18",
            "--no-warp-row", "--max-probes-per-yaw", "1"]
    assert cli(args) == 2
    err = capsys.readouterr().err
    assert f"error: {tmp_path / 'full_width.pth'}: this recognizer checkpoint does not record what it was trained on" in err
    assert f"are taken when declared: --external {tmp_path / 'full_width.pth'}" in err and "Traceback" not in err
    assert not (tmp_path / "report").exists()
    assert cli([*args, "--external", str(tmp_path)]) == 0  # a folder declares every file in it
    doc = json.loads((tmp_path / "report" / "report_setting1.json").read_text())
    shared = next(n for n in doc["networks"] if n["role"] == "shared recognizer")
    assert shared["trained_on"] == "external: no training record (full_width.pth); external, user-declared (--external)"
    assert shared["record"]["notes"] == {"declared_external": "user"}
    assert f"- shared recognizer `{tmp_path / 'full_width.pth'}`: external: no training record (full_width.pth); " \
           "external, user-declared (--external)" in (tmp_path / "report" / "rank1_setting1.md").read_text()


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
    quick = ["--quiet", "--no-warp-row", "--max-probes-per-yaw", "1", "--external", str(rec)]
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


def test_a_network_trained_on_other_manifests_of_the_same_people_is_flagged(prepared_tiny, tiny_gan, tmp_path, capsys):
    """The fingerprint is compared where it can be recomputed: same people, other manifest bytes -> a loud warning in
    the header and on stderr (not a refusal: the subject ids, the people, are checked all the same)."""
    import csv

    out, _ = prepared_tiny
    edited = tmp_path / "edited"
    edited.mkdir()
    for item in out.iterdir():
        if item.name != "manifests":
            (edited / item.name).symlink_to(item)
    shutil.copytree(out / "manifests", edited / "manifests")
    path = manifest_path(edited, "setting1", 64)
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    rows[0]["landmark_source"] = "mtcnn"  # prepared again with another landmark source, say
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    rec = random_recognizer(tmp_path / "recognizer.pt", record=TrainedOn(_dataset(out), "session01", 64, (1,)))
    common = ["eval", "--checkpoint", str(tiny_gan), "--protocol", "setting1", "--recognizer", str(rec), "--quiet",
              "--no-warp-row", "--max-probes-per-yaw", "1"]
    assert cli([*common, "--prepared", str(edited), "--out", str(tmp_path / "report")]) == 0
    warning = (f"Warning: the generator `{tiny_gan}`: it trained on other manifests of the same people: fingerprint "
               f"{read_record(tiny_gan).fingerprint}, where {edited} holds {manifest_fingerprint([path])} for setting1 at "
               "64 px")
    assert warning in capsys.readouterr().err
    assert warning in (tmp_path / "report" / "rank1_setting1.md").read_text()
    assert any(line.startswith(warning) for line in json.loads((tmp_path / "report" / "report_setting1.json").read_text())["header"])
    assert cli([*common, "--prepared", str(out), "--out", str(tmp_path / "same")]) == 0
    assert "Warning:" not in capsys.readouterr().err + (tmp_path / "same" / "rank1_setting1.md").read_text()


def test_a_mixed_run_answers_for_every_dataset_it_trained_on():
    """data.mix: the record keeps each dataset's people apart; a tested subject seen through either part of the
    same dataset is refused, and a part of another dataset (a photo-pairs tree) leaves the run unproven for the data
    until the user declares it, whose primary subjects are then still held to the protocol."""
    from frontalize.runs.provenance import Contaminated, Unproven, check_clean, declared_record

    synthpie = "SynthPIE v4 small seed 0"
    pairs = TrainedOn("photo pairs 42927cf197b0", "setting1", 64, (1, 2, 3))
    record = TrainedOn(synthpie, "setting1", 64, (1, 2), (5,), "abc", {}, (pairs,))
    assert TrainedOn.from_json(record.to_json()) == record
    assert TrainedOn.from_json(TrainedOn(synthpie, "setting1", 64, (1,)).to_json()).mixed == ()  # older records
    assert "mixed with photo pairs 42927cf197b0: 3 subjects (1-3)" in record.describe()
    # the pairs' subject 3 is no SynthPIE subject 3: only SynthPIE's own ids overlap the SynthPIE data
    assert record.overlap({3, 4}, synthpie) == set() and record.overlap({2, 5}, synthpie) == {2, 5}
    with pytest.raises(Unproven, match="mixed into its training"):
        check_clean("generator", "g.pt", record, "setting1", {7}, synthpie)
    declared = declared_record(record, "g.pt")
    check_clean("generator", "g.pt", declared, "setting1", {7}, synthpie)  # declared, and it saw no tested subject
    with pytest.raises(Contaminated, match="trained on 1 of them"):
        check_clean("generator", "g.pt", declared, "setting1", {2}, synthpie)
    same = TrainedOn(synthpie, "setting1", 64, (1, 2), (), "", {}, (TrainedOn(synthpie, "setting1", 64, (9,)),))
    with pytest.raises(Contaminated, match=r"trained on 1 of them \(9\)"):  # mixed in from the data's own dataset
        check_clean("generator", "g.pt", same, "setting1", {9}, synthpie)
