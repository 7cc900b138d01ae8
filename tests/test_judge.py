"""The independent judge, enforced: never the shared recognizer, never a recognizer the generator trained with, and
trained on the shared recognizer's people; the header says how it differs."""
import json
import shutil
from pathlib import Path

import pytest
import torch

from frontalize.cli.main import main as cli
from frontalize.data.manifest import read_manifest
from frontalize.runs.provenance import TrainedOn, read_record
from conftest import random_recognizer, train_tiny_gan

# prepared `tiny`: setting1 trains 1-2 and tests 3-6; with one validation subject, 2 chooses best.pt


def _dataset(prepared) -> str:
    return read_manifest(prepared, "setting1", 64).dataset


def _clean(prepared, seed: int, subjects=(1,)) -> TrainedOn:
    """A record that shows whom it saw: setting1's first training subject, of the data's people."""
    return TrainedOn(_dataset(prepared), "session01", 64, subjects, notes={"seed": seed})


@pytest.fixture(scope="module")
def loss_gan(prepared_tiny, tmp_path_factory):
    """A setting1 generator whose identity loss and best.pt choice used the recognizer ``loss.pt``."""
    out, _ = prepared_tiny
    tmp = tmp_path_factory.mktemp("loss_gan")
    loss = random_recognizer(tmp / "loss.pt", seed=11, record=_clean(out, 0))
    checkpoint = train_tiny_gan(out, tmp / "runs", "1_4", "loss.identity_features=recognizer", f"loss.recognizer={loss}",
                                "loss.feature=1.0", "data.val_subjects=1")
    return checkpoint, loss


def _eval(prepared, checkpoint, out, *extra) -> list[str]:
    return ["eval", "--checkpoint", str(checkpoint), "--protocol", "setting1", "--prepared", str(prepared), "--quiet",
            "--out", str(out), "--no-warp-row", "--max-probes-per-yaw", "1", *extra]


def test_the_generator_records_the_recognizers_its_training_used(loss_gan):
    from frontalize.recognition.recognizer import weights_digest

    checkpoint, loss = loss_gan
    notes = read_record(checkpoint).notes
    digest = weights_digest(loss)
    assert notes["identity_recognizer"] == notes["selection_recognizer"] == str(loss)
    assert notes["identity_recognizer_weights"] == notes["selection_recognizer_weights"] == digest


def test_the_judge_is_never_the_loss_recognizer_even_copied_to_another_layout(prepared_tiny, loss_gan, tmp_path, capsys):
    """Once accepted: `eval --judge-recognizer <the loss recognizer>` printed "independent judge" rows that were its."""
    out, _ = prepared_tiny
    checkpoint, loss = loss_gan
    shared = random_recognizer(tmp_path / "shared.pt", seed=12, record=_clean(out, 1))
    copy = tmp_path / "elsewhere" / "backbone.pth"  # the same weights as a bare state dict, under another name
    copy.parent.mkdir()
    torch.save(torch.load(loss, weights_only=True)["backbone"], copy)
    common = _eval(out, checkpoint, tmp_path / "report", "--recognizer", str(shared))
    for judge, extra in ((loss, []), (copy, ["--external", str(copy)])):
        assert cli([*common, "--judge-recognizer", str(judge), *extra]) == 2
        err = capsys.readouterr().err
        assert f"error: refusing the independent judge {judge}: it is the recognizer the generator {checkpoint} trained " \
               f"with, for its identity loss ({loss}): its rows would measure how well the generator learned to please " \
               "it" in err and "Traceback" not in err, err
    assert not (tmp_path / "report").exists()
    # the generator's config names it even where its record is older than the names: still refused
    state = torch.load(checkpoint, weights_only=True)
    record = TrainedOn.from_json(state["trained_on"])
    state["trained_on"] = TrainedOn(record.dataset, record.protocol, record.size, record.subjects, record.validation,
                                    record.fingerprint, {"setting": "setting1_4"}).to_json()
    torch.save(state, tmp_path / "older.pt")
    assert cli([*_eval(out, tmp_path / "older.pt", tmp_path / "report", "--recognizer", str(shared)),
                "--judge-recognizer", str(loss)]) == 2
    assert "loss.recognizer (identity loss or validation scorer)" in capsys.readouterr().err


def test_the_judge_is_not_the_shared_recognizer_in_any_file(prepared_tiny, tiny_gan, tmp_path, capsys):
    out, _ = prepared_tiny
    shared = random_recognizer(tmp_path / "shared.pt", seed=1, record=_clean(out, 0))
    common = _eval(out, tiny_gan, tmp_path / "report", "--recognizer", str(shared))
    assert cli([*common, "--judge-recognizer", str(shared)]) == 2
    assert f"refusing the independent judge {shared}: it is the shared recognizer's file" in capsys.readouterr().err
    twin = tmp_path / "twin" / "recognizer.pt"
    twin.parent.mkdir()
    shutil.copy(shared, twin)
    assert cli([*common, "--judge-recognizer", str(twin)]) == 2
    assert f"refusing the independent judge {twin}: it holds the shared recognizer's weights ({shared}, digest " \
           in capsys.readouterr().err
    assert not (tmp_path / "report").exists()


def test_a_judge_of_other_people_or_the_same_training_is_refused_and_a_good_one_is_described(prepared_tiny, tiny_gan,
                                                                                          tmp_path, capsys):
    out, _ = prepared_tiny
    shared = random_recognizer(tmp_path / "shared.pt", seed=1, record=_clean(out, 0))
    judge = tmp_path / "judge.pt"
    common = _eval(out, tiny_gan, tmp_path / "report", "--recognizer", str(shared), "--judge-recognizer", str(judge))
    random_recognizer(judge, seed=2, record=_clean(out, 1, subjects=(1, 2)))
    assert cli(common) == 2
    assert f"refusing the independent judge {judge}: it trained on 2 subjects and the shared recognizer on 1: 1 only the " \
           "judge's (2), 0 only the shared one's (none)" in capsys.readouterr().err
    random_recognizer(judge, seed=2, record=_clean(out, 0))  # other weights, but the same architecture and seed
    assert cli(common) == 2
    assert "the shared recognizer's architecture (IResNet r18 layout at width 0.25, 128-d) and seed (0), so the same " \
           "training again" in capsys.readouterr().err
    random_recognizer(judge, seed=2, record=TrainedOn("external: random weights (a test)", None, None, ()))
    assert cli([*common, "--external", str(judge)]) == 2
    assert "its training data lies outside the manifests, so nothing shows that it trained on the same people" \
        in capsys.readouterr().err
    random_recognizer(judge, seed=2, record=_clean(out, 1))
    assert cli(common) == 0
    md = (tmp_path / "report" / "rank1_setting1.md").read_text()
    doc = json.loads((tmp_path / "report" / "report_setting1.json").read_text())
    line = next(h for h in doc["header"] if h.startswith("Independent judge against the shared recognizer"))
    assert line in md
    assert "architecture IResNet r18 layout at width 0.25, 128-d against IResNet r18 layout at width 0.25, 128-d; " \
           f"seed 1 against 0; file `{judge}` against `{shared}`; weights " in line
    assert line.endswith(f"; the same 1 training subjects of {_dataset(out)}.")
    assert "No judged generator's training used the judge (they used no recognizer)." in md


def test_check_judge_compares_people_weights_and_training():
    """The rules without files: a record-less or elsewhere-trained pair can only be compared when both are external."""
    from frontalize.pipeline.judging import NotIndependent, UsedInTraining, check_judge
    from frontalize.recognition.recognizer import RecognizerFile

    shape = ("r18", 0.25, 128)
    shared = RecognizerFile(Path("/s.pt"), "aaaa", shape, 0)
    judge = RecognizerFile(Path("/j.pt"), "bbbb", ("r34", 0.125, 128), 1)
    people = TrainedOn("SynthPIE v3 seed 0", "session01", 64, (1, 2))
    outside = TrainedOn("external: arcface_torch", None, None, ())
    assert check_judge(judge, people, shared, people, [])[0].endswith("the same 2 training subjects of SynthPIE v3 seed 0.")
    both = check_judge(judge, outside, shared, outside, [])
    assert both[0].endswith("both trained elsewhere (external): their people not compared.")
    with pytest.raises(NotIndependent, match="the shared recognizer's training data lies outside the manifests"):
        check_judge(judge, people, shared, outside, [])
    with pytest.raises(NotIndependent, match="it trained on Multi-PIE's people, the shared recognizer on SynthPIE"):
        check_judge(judge, TrainedOn("Multi-PIE", "session01", 64, (1, 2)), shared, people, [])
    with pytest.raises(NotIndependent, match="holds the shared recognizer's weights"):
        check_judge(RecognizerFile(Path("/j.pt"), "aaaa", None, None), people, shared, people, [])
    used = [UsedInTraining("identity loss", Path("/elsewhere/loss.pt"), "bbbb", Path("/g.pt"))]
    with pytest.raises(NotIndependent, match="it is the recognizer the generator /g.pt trained with, for its identity loss"):
        check_judge(judge, people, shared, people, used)  # recorded digest: found though the file is gone
    unknown_seed = RecognizerFile(Path("/j.pt"), "cccc", shape, None)
    assert "seed not recorded against 0" in check_judge(unknown_seed, people, shared, people, [])[0]
