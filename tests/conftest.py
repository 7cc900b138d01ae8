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


def random_recognizer(path, seed=None):
    """A tiny recognizer checkpoint with random weights (the layout recognition/train.py writes), at ``path``."""
    import json

    import torch

    from frontalize.recognition.iresnet import get_backbone
    from frontalize.runs import checkpoint as ckpt

    if seed is not None:
        torch.manual_seed(seed)
    ckpt.save(path, {"backbone": get_backbone("tiny").state_dict(),
                     "backbone_config": json.dumps({"arch": "tiny", "width": 1.0, "embedding": 512})})
    return path
