"""Recognizers on prepared data: the shared one a GAN run needs (the newest trained one, trained now when there is
none) and the independent judge that evaluation adds."""
from __future__ import annotations

from pathlib import Path

from frontalize.config import CONFIG_DIR, Config
from frontalize.recognition.config import load_recognizer_config
from frontalize.recognition.train import train
from frontalize.runs.folders import RECOGNIZER, newest_recognizer

SHARED_RECIPE = CONFIG_DIR / "recognizer_synthpie.yaml"
JUDGE_RECIPE = CONFIG_DIR / "recognizer_synthpie_judge.yaml"
JUDGE = "recognizer_judge"  # its runs folder: no GAN picks a judge up as its recognizer


def train_recognizer_recipe(recipe: Path, kind: str, prepared: Path, size: int, runs_root: Path, wandb_mode: str = "auto",
                            progress: bool = True, overrides: list[str] = ()) -> Path:
    """A recognizer recipe (configs/recognizer_*.yaml) on ``prepared``, as a run under ``runs_root/kind``."""
    cfg = load_recognizer_config(recipe, [f"data.prepared={prepared}", f"data.size={size}", f"wandb.mode={wandb_mode}",
                                          f"train.runs_dir={Path(runs_root) / kind}", *overrides])
    return train(cfg, progress=progress)


def train_shared_recognizer(prepared: Path, size: int, runs_root: Path, wandb_mode: str = "auto",
                            progress: bool = True, overrides: list[str] = ()) -> Path:
    return train_recognizer_recipe(SHARED_RECIPE, RECOGNIZER, prepared, size, runs_root, wandb_mode, progress, overrides)


def ensure_recognizer(cfg: Config, progress: bool = True) -> None:
    """``loss.recognizer=auto``: the newest recognizer under ``train.runs_dir``, trained first if there is none."""
    if cfg.loss.recognizer != "auto":
        return
    found = newest_recognizer(Path(cfg.train.runs_dir))
    if found is None:
        print(f"no trained recognizer under {Path(cfg.train.runs_dir) / RECOGNIZER}: training the shared recognizer "
              f"first ({SHARED_RECIPE.name})")
        found = train_shared_recognizer(Path(cfg.data.prepared), cfg.data.size, Path(cfg.train.runs_dir), cfg.wandb.mode,
                                        progress)
    cfg.loss.recognizer = str(found)
