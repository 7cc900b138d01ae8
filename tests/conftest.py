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
