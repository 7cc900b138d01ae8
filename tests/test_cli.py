import subprocess
import sys

from frontalize import __version__
from frontalize.cli.main import main


def test_version_and_help(capsys):
    out = subprocess.run([sys.executable, "-m", "frontalize.cli.main", "--version"], capture_output=True, text=True)
    assert out.stdout.strip() == f"frontalize {__version__}"
    assert main([]) == 2
    assert "synthpie" in capsys.readouterr().out


def test_synthpie_cli_refuses_foreign_folder(tmp_path, capsys):
    (tmp_path / "mine.txt").write_text("x")
    assert main(["synthpie", "--preset", "tiny", "--out", str(tmp_path), "--quiet"]) == 2
    assert "not a SynthPIE tree" in capsys.readouterr().err


def test_demo_runs_every_step_and_ends_with_a_summary(tiny_synthpie, tmp_path, capsys):
    """`make demo` on the `tiny` preset with short trainings: every step runs, a second run reuses them."""
    import shutil

    out, runs = tmp_path / "demo", tmp_path / "runs"
    shutil.copytree(tiny_synthpie, out / "synthpie")  # generation is tested elsewhere; the demo completes the tree
    args = ["demo", "--out", str(out), "--runs-dir", str(runs), "--quiet", "--preset", "tiny", "--real-faces-probes", "3",
            # `tiny` has 2 setting1 training subjects: none to spare for validation
            "--recognizer", "train.epochs=1", "train.batch_size=16", "data.workers=0", "data.exclude_validation=0",
            "--gan", "train.steps=2", "train.eval_every=2", "data.workers=0", "data.val_subjects=0"]
    assert main(args) == 0
    text = capsys.readouterr().out
    for k in range(1, 9):
        assert f"[{k}/8]" in text
    assert "### Real faces: Pointing'04" in text and (out / "real_faces" / "rank1_pointing04.md").exists()
    assert "--landmarks mtcnn --detect-per-view 1" in text
    assert "alone: python scripts/train_gan.py --setting setting1_4r --cpu" in text
    assert "| rank-1 frontalized (%) |" in text and "where things are:" in text
    assert (out / "report" / "rank1_setting1.md").exists() and (out / "report" / "samples_setting1.png").exists()
    assert [p.name for p in (out / "infer").iterdir()] == ["006_01_01_190_07_frontal.png", "006_01_01_190_07_side.png"] or \
        sorted(p.name for p in (out / "infer").iterdir()) == ["006_01_01_190_07_frontal.png", "006_01_01_190_07_side.png"]
    assert main(args) == 0  # everything done: the networks are reused, not trained again
    again = capsys.readouterr().out
    assert "using the finished run" in again and "recognizer (tiny IResNet, ArcFace): using" in again
    assert "the independent judge (IResNet-34 layout, another seed; no training loss uses it): using" in again
    assert all(len(list((runs / kind).iterdir())) == 1 for kind in ("gan", "recognizer", "recognizer_judge"))
    assert "| rank-1 frontalized, independent judge (%) |" in text and "| rank-1 warp only (%) |" in text


def test_resume_before_overrides_takes_them_as_overrides():
    """`train_gan.py --setting 1_4r --resume key=value`: the override is not a run folder to resume."""
    import argparse

    from frontalize.cli.train import add_arguments, resolve

    p = argparse.ArgumentParser()
    add_arguments(p)
    args = p.parse_args(["--setting", "1_4r", "--cpu", "--resume", "train.steps=7", "loss.l1=3"])
    cfg = resolve(args)
    assert args.resume == "latest" and cfg.train.steps == 7 and cfg.loss.l1 == 3
