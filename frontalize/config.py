"""Run configuration: typed dataclasses, a YAML file per named setting, `key=value` overrides.

Resolution order (later wins): the defaults below (the notes' default model),
``configs/<setting>.yaml``, ``configs/cpu.yaml`` when asked for the CPU
configuration, then the setting's own ``cpu:`` section (what the CPU
configuration changes for that setting alone, e.g. another batch size), then
command-line ``key=value`` pairs (``loss.l1=10``).
A setting file may start from another one: ``inherit: setting1_4`` (the
session01 settings are the setting1 ones on another protocol).
OmegaConf does the merging and type checks, and loads YAML safely.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from omegaconf import OmegaConf

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"


@dataclass
class DataConfig:
    prepared: str = "runs/demo/prepared"  # output folder of data_prep/multipie.py
    root: Optional[str] = None  # Multi-PIE root used to prepare it; None: SynthPIE `small`
    protocol: str = "setting1"
    size: int = 224
    target: str = "same_flash"  # same_flash | mean_flash | gallery_flash (frontal under flash 07); see training/data.py
    profile_folder: Optional[str] = None  # image-folder profile inputs without targets (setting1_5)
    # a second prepared folder whose training rows join this run's, drawn in proportion to their number (a
    # photo-pairs tree's preparation, `frontalize pairs`; issue 27); its people are recorded as its own dataset's
    mix: Optional[str] = None
    max_train_yaw: Optional[int] = None  # None: every pose of the protocol's training split
    val_subjects: int = 0  # training subjects held out to choose best.pt (training/validation.py); 0: none, as the papers
    random_crop: float = 0.9  # scale of the random crop (1.0: none)
    mirror: bool = True
    colour: float = 0.0  # probability of a hue/saturation or brightness/contrast shift, the same on input and target
    landmark_noise: str = "none"  # none | mtcnn: exact landmarks moved by MTCNN's measured error before the pose fit (training/data.py)
    workers: int = 2


@dataclass
class EncoderPretrainConfig:
    """Identity pretraining of the encoder when no VGG-Face weights are given (training/encoder_pretraining.py)."""
    steps: int = 0  # 0: none (the encoder starts from random weights)
    batch_size: int = 32
    lr: float = 3e-4


@dataclass
class ModelConfig:
    width: float = 1.0
    encoder_weights: Optional[str] = None  # local VGG-Face checkpoint
    pretrain: EncoderPretrainConfig = field(default_factory=EncoderPretrainConfig)
    freeze_encoder: bool = False
    mirror_fusion: bool = False
    input_bridge: bool = False  # the input image joins the full-size decoder block (generator.py)
    geometry: str = "none"  # none | pixels | features: the frontal warp inside the generator (models/generator.py);
    # refine: the warp refiner instead (models/refiner.py: residual flow, shading, fill on the warp)
    # the warp refiner's output near the front: the warp alone below the first |yaw| (degrees, the input's fitted
    # pose), the refiner alone beyond the second, a smooth blend between (models/refiner.py); [] or equal: refiner only.
    # 30, not 10: with [10, 30] Setting 2's +30-degree probes lost 4.6 points against the warp by the judge
    front_blend: list = field(default_factory=lambda: [30.0, 45.0])
    # the warp refiner beyond the head: the photo's own scene wherever the warp shows it (flow-corrected, unshaded),
    # the refiner's fill only where nothing was seen; off: the fill may repaint it (issue 27: a learned grey wash)
    keep_background: bool = False
    # warp-refiner parts that never learn (held at their start: no flow, gain 1 and offset 0, no fill) from
    # flow, shading, face fill, fill beyond; issue 27: the flow and the shading learned on SynthPIE cost real faces
    fixed_parts: list = field(default_factory=list)
    discriminators: str = "scales"  # scales | regions | regions+scales
    d_width: int = 64
    d_norm: str = "instance"  # instance | layer | none


@dataclass
class LossConfig:
    adversarial: str = "wgan"  # wgan | wgan_gp | lsgan
    gan: float = 1.0
    l1: float = 0.0
    feature: float = 500.0
    symmetry: float = 0.0
    ssim: float = 0.0  # 1 - SSIM to the frontal target, on the whole crop and on the face box (losses/reconstruction.py)
    tv: float = 0.0
    l2: float = 1e-4
    gp: float = 10.0
    clip: float = 0.01
    identity_features: str = "vgg"  # vgg (relu7 of a frozen VGG-Face) | recognizer (the shared ArcFace)
    recognizer: Optional[str] = None  # recognizer checkpoint for identity_features=recognizer


@dataclass
class OptimConfig:
    name: str = "adam"  # adam | rmsprop
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.9
    critic_iters: int = 5


@dataclass
class TrainConfig:
    batch_size: int = 5
    steps: int = 100_000
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    amp: bool = True  # mixed precision on CUDA (runs/precision.py)
    amp_dtype: str = "bfloat16"  # bfloat16 | float16 (float16 adds loss scaling)
    compile: bool = False  # torch.compile the generator
    channels_last: bool = False  # NHWC memory layout for the networks and batches (CUDA convolutions prefer it)
    ema: float = 0.0  # decay of an exponential moving average of the generator (0: none); evaluated and shipped
    threads: int = 0  # CPU threads (0: torch's default)
    log_every: int = 50
    sample_every: int = 1000
    eval_every: int = 5000
    checkpoint_every: int = 1000
    keep_last: int = 3
    runs_dir: str = "runs"


@dataclass
class WandbConfig:
    project: str = "frontalize"
    mode: str = "auto"  # auto (online with credentials, else offline) | online | offline | disabled
    init_timeout: int = 60


@dataclass
class Config:
    setting: str = "default"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    wandb: WandbConfig = field(default_factory=WandbConfig)


class ConfigError(ValueError):
    pass


def known_settings(config_dir: Path = CONFIG_DIR) -> list[str]:
    return sorted(p.stem for p in config_dir.glob("*.yaml") if p.stem.startswith(("setting", "session")))


def setting_name(name: str) -> str:
    """`1_4` and `setting1_4` both name configs/setting1_4.yaml."""
    return name if name.startswith(("setting", "session")) else f"setting{name}"


def setting_layers(name: str, config_dir: Path = CONFIG_DIR, cpu_layers: list | None = None) -> list:
    """The YAML layers of a named setting, the one it inherits from first.  Their ``cpu:`` sections are moved, in the
    same order, to ``cpu_layers`` when given (else dropped)."""
    layers, seen, cpu = [], [], []
    while name is not None:
        path = config_dir / f"{name}.yaml"
        if name in seen or not path.exists():
            raise ConfigError(f"{seen[-1]}.yaml inherits from {name!r}, " + ("a cycle" if name in seen else "which does not exist"))
        seen.append(name)
        layer = OmegaConf.load(path)
        name = layer.pop("inherit", None)
        cpu.insert(0, layer.pop("cpu", OmegaConf.create({})))
        layers.insert(0, layer)
    if cpu_layers is not None:
        cpu_layers.extend(cpu)
    return layers


def load_config(setting: str, cpu: bool = False, overrides: list[str] | None = None, config_dir: Path = CONFIG_DIR) -> Config:
    name = setting_name(setting)
    if not (config_dir / f"{name}.yaml").exists():
        raise ConfigError(f"unknown setting {setting!r}; known: {', '.join(known_settings(config_dir))}")
    cfg = OmegaConf.structured(Config)
    cpu_sections: list = []
    layers = setting_layers(name, config_dir, cpu_sections)
    if cpu:
        layers += [OmegaConf.load(config_dir / "cpu.yaml"), *cpu_sections]
    try:
        layers.append(OmegaConf.from_dotlist(list(overrides or [])))
        merged = OmegaConf.merge(cfg, *layers, {"setting": name})
    except Exception as e:  # OmegaConf reports unknown keys and wrong types with the key's path
        raise ConfigError(f"bad configuration for {name}: {e}") from None
    return OmegaConf.to_object(merged)


def to_yaml(cfg: Config) -> str:
    return OmegaConf.to_yaml(OmegaConf.structured(cfg))


def from_yaml(text: str) -> Config:
    return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(Config), OmegaConf.create(text)))
