import os

import pytest

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")


@pytest.fixture(scope="session")
def tiny_synthpie(tmp_path_factory):
    """The `tiny` SynthPIE tree, generated once per test session."""
    from frontalize.synthpie.generate import generate

    root = tmp_path_factory.mktemp("synthpie_tiny")
    generate(root, "tiny", seed=0, workers=2, progress=False)
    return root


@pytest.fixture(scope="session")
def tiny_sessions_synthpie(tmp_path_factory):
    """The `tiny_sessions` SynthPIE tree, generated once per test session: subjects 1-5 and 7 (id 6 unused) in
    sessions 01 (neutral and smile), 02 and 04 (two neutral recordings); subject 7 misses session 01, so its
    earliest session is 02 (attendance: PRESETS["tiny_sessions"].attendees(session))."""
    from frontalize.synthpie.generate import generate

    root = tmp_path_factory.mktemp("synthpie_tiny_sessions")
    generate(root, "tiny_sessions", seed=0, workers=2, progress=False)
    return root


@pytest.fixture(scope="session")
def prepared_tiny_sessions(tiny_sessions_synthpie, tmp_path_factory):
    """`tiny_sessions` prepared at 64 px with its previews: (folder, summary); setting2 has 4 train / 2 test
    subjects (5, gallery from session 01; 7, gallery from session 02)."""
    from frontalize.preparation.prep import PrepConfig, prepare

    out = tmp_path_factory.mktemp("prepared_tiny_sessions")
    summary = prepare(PrepConfig(root=tiny_sessions_synthpie, out=out, size=64, workers=2, progress=False, preview=True))
    return out, summary


@pytest.fixture(scope="session")
def prepared_tiny(tiny_synthpie, tmp_path_factory):
    """`tiny` prepared at 64 px with a preview; the source tree's bytes are checked unchanged."""
    import hashlib

    from frontalize.preparation.prep import PrepConfig, prepare

    def digest():
        return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(tiny_synthpie.rglob("*")) if p.is_file()}

    before = digest()
    out = tmp_path_factory.mktemp("prepared_tiny")
    summary = prepare(PrepConfig(root=tiny_synthpie, out=out, size=64, workers=2, progress=False, preview=True))
    assert digest() == before, "preparation modified the source tree"
    return out, summary


def random_recognizer(path, seed=None, record=None):
    """A tiny recognizer checkpoint with random weights (the layout recognition/train.py writes), at ``path``.

    ``record``: what it claims to be trained on (a ``TrainedOn``); by default random weights, which know nobody."""
    import json

    import torch

    from frontalize.recognition.iresnet import get_backbone
    from frontalize.runs import checkpoint as ckpt
    from frontalize.runs.provenance import RECORD_KEY, TrainedOn

    if seed is not None:
        torch.manual_seed(seed)
    record = record or TrainedOn("external: random weights (a test)", None, None, ())
    ckpt.save(path, {"backbone": get_backbone("tiny").state_dict(), RECORD_KEY: record.to_json(),
                     "backbone_config": json.dumps({"arch": "tiny", "width": 1.0, "embedding": 512})})
    return path


TINY_GAN = ["data.size=64", "data.workers=0", "model.width=0.125", "model.d_width=8", "train.batch_size=2",
            "train.steps=2", "train.eval_every=1000", "loss.identity_features=vgg", "loss.recognizer=null",
            "wandb.mode=disabled", "data.val_subjects=0"]


def train_tiny_gan(prepared, runs, setting="1_3", *extra):
    """A two-step GAN run on prepared `tiny` (seconds); returns its latest checkpoint."""
    from frontalize.cli.train import main as train_main
    from frontalize.runs import checkpoint as ckpt
    from frontalize.runs.folders import runs_of

    assert train_main(["--setting", setting, "--cpu", "--quiet", f"data.prepared={prepared}", f"train.runs_dir={runs}",
                       *TINY_GAN, *extra]) == 0
    return ckpt.latest(runs_of(runs / "gan")[-1] / "checkpoints")


@pytest.fixture(scope="session")
def tiny_gan(prepared_tiny, tmp_path_factory):
    """A setting1 generator trained for two steps on prepared `tiny` (it records its training data)."""
    out, _ = prepared_tiny
    return train_tiny_gan(out, tmp_path_factory.mktemp("gan_runs"))
