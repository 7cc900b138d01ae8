"""The recognizer's configuration: typed dataclasses, a YAML file (``configs/recognizer_*.yaml``), `key=value` overrides.

A recipe file may carry a ``for_protocol:`` section: per protocol, what the recipe becomes when the recognizer is
trained for a GAN run or a report on that protocol (``for_protocol: {setting2: {data: {protocol: setting2}}}``:
setting2's own training split instead of session 01's).  Resolution order (later wins): the defaults below, the
file, its section for the protocol asked for (none asked, or none for it: the recipe as written), the overrides.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from omegaconf import OmegaConf

from frontalize.config import ConfigError, WandbConfig


@dataclass
class RecDataConfig:
    source: str = "manifest"  # manifest | folder | recordio | synthetic (random images: smoke tests, throughput)
    prepared: str = "runs/demo/prepared"
    protocol: str = "session01"
    size: int = 128
    max_yaw: Optional[int] = 30
    exclude_test_of: list = field(default_factory=lambda: ["setting1", "session01"])
    # the last N training subjects of data.protocol and of each protocol in exclude_test_of: the validation identities
    # a GAN run chooses best.pt on (data.val_subjects), which the recognizer that scores the choice must not know
    exclude_validation: int = 0
    folder: Optional[str] = None
    rec: Optional[str] = None
    workers: int = 2
    per_subject: Optional[int] = None  # at most this many images of each identity (a seeded draw); None: all
    degrade: float = 0.0  # probability of a blur / downscale augmentation (see recognition/data.default_augment)
    synthetic_images: int = 4096  # data.source=synthetic
    synthetic_classes: int = 1000


@dataclass
class RecModelConfig:
    arch: str = "tiny"  # tiny | r18 | r34 | r50 | r100
    width: float = 1.0
    embedding: int = 512
    dropout: float = 0.0
    margin: str = "arcface"  # arcface | cosface | sphereface | combined | softmax
    scale: float = 64.0


@dataclass
class RecOptimConfig:
    name: str = "adamw"  # adamw | sgd
    lr: float = 2e-3
    momentum: float = 0.9
    weight_decay: float = 0.05
    warmup_fraction: float = 0.05


@dataclass
class RecTrainConfig:
    epochs: int = 20
    batch_size: int = 64
    seed: int = 0
    device: str = "auto"
    amp: bool = True  # mixed precision on CUDA (runs/precision.py)
    amp_dtype: str = "bfloat16"  # bfloat16 | float16 (float16 adds loss scaling)
    threads: int = 0
    log_every: int = 20
    keep_last: int = 2
    runs_dir: str = "runs/recognizer"


@dataclass
class RecEvalConfig:
    protocols: list = field(default_factory=lambda: ["setting1", "session01"])
    bins: list = field(default_factory=list)
    flip: bool = True
    # at most this many probes per camera column, spread over the flashes (evaluation/identification.subsample_probes);
    # None: every probe.  Setting 2's 16,243 probes would cost a CPU recognizer's own table minutes
    probes_per_column: Optional[int] = None


@dataclass
class RecognizerConfig:
    name: str = "recognizer"
    data: RecDataConfig = field(default_factory=RecDataConfig)
    model: RecModelConfig = field(default_factory=RecModelConfig)
    optim: RecOptimConfig = field(default_factory=RecOptimConfig)
    train: RecTrainConfig = field(default_factory=RecTrainConfig)
    eval: RecEvalConfig = field(default_factory=RecEvalConfig)
    wandb: WandbConfig = field(default_factory=WandbConfig)


PROTOCOL_SECTION = "for_protocol"


def recipe_protocols(path: Path) -> list[str]:
    """The protocols a recipe file has a ``for_protocol`` section for."""
    return sorted(OmegaConf.load(path).get(PROTOCOL_SECTION) or {})


def load_recognizer_config(path: Path | None, overrides: list[str] | None = None, protocol: str | None = None) -> RecognizerConfig:
    """A recipe with its ``for_protocol`` section for ``protocol`` applied (module docstring), then the overrides."""
    try:
        layers = []
        if path:
            recipe = OmegaConf.load(path)
            sections = recipe.pop(PROTOCOL_SECTION, None) or {}
            layers.append(recipe)
            if protocol is not None and protocol in sections:
                layers.append(sections[protocol])
        layers.append(OmegaConf.from_dotlist(list(overrides or [])))
        return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(RecognizerConfig), *layers))
    except Exception as e:  # OmegaConf names the key and the problem
        raise ConfigError(f"bad recognizer configuration{f' in {path}' if path else ''}: {e}") from None


def recognizer_yaml(cfg: RecognizerConfig) -> str:
    return OmegaConf.to_yaml(OmegaConf.structured(cfg))
