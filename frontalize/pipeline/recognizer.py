"""Recognizers on prepared data: the shared one a GAN run needs (the newest trained one, trained now when there is
none) and the independent judge that evaluation adds.

Which subjects a recipe trains on depends on the protocol the recognizer serves: as written, a recipe trains on
session 01's training subjects less every setting1/session01 test subject (the setting1 family); its
``for_protocol`` section moves it onto another protocol's own training split (setting2: its 200 training subjects,
less its validation subjects), recognition/config.py.  A recognizer for such a protocol must come from that split
(``recognizer_split``), so "the newest suitable one" never picks up a clean but smaller setting1 recognizer."""
from __future__ import annotations

from pathlib import Path

from frontalize.config import CONFIG_DIR, Config
from frontalize.data.manifest import read_manifest
from frontalize.data.protocols import validation_subjects
from frontalize.recognition.config import load_recognizer_config, recipe_protocols
from frontalize.recognition.train import train
from frontalize.runs.folders import RECOGNIZER, NoneSuits, newest_recognizer
from frontalize.runs.provenance import Use

SHARED_RECIPE = CONFIG_DIR / "recognizer_synthpie.yaml"
JUDGE_RECIPE = CONFIG_DIR / "recognizer_synthpie_judge.yaml"
JUDGE = "recognizer_judge"  # its runs folder: no GAN picks a judge up as its recognizer


def train_recognizer_recipe(recipe: Path, kind: str, prepared: Path, size: int, runs_root: Path, wandb_mode: str = "auto",
                            progress: bool = True, overrides: list[str] = (), protocol: str | None = None) -> Path:
    """A recognizer recipe (configs/recognizer_*.yaml), in its variant for ``protocol`` (its ``for_protocol`` section;
    None: as written), on ``prepared``, as a run under ``runs_root/kind``."""
    cfg = load_recognizer_config(recipe, [f"data.prepared={prepared}", f"data.size={size}", f"wandb.mode={wandb_mode}",
                                          f"train.runs_dir={Path(runs_root) / kind}", *overrides], protocol=protocol)
    return train(cfg, progress=progress)


def train_shared_recognizer(prepared: Path, size: int, runs_root: Path, wandb_mode: str = "auto",
                            progress: bool = True, overrides: list[str] = (), protocol: str | None = None) -> Path:
    return train_recognizer_recipe(SHARED_RECIPE, RECOGNIZER, prepared, size, runs_root, wandb_mode, progress, overrides,
                                   protocol)


def recognizer_split(protocol: str, recipe: Path = SHARED_RECIPE) -> str | None:
    """The protocol whose training split the recipe's variant for ``protocol`` trains on, when the recipe has one
    (setting2 -> "setting2"); None where the recipe as written serves (setting1, session01: any clean recognizer)."""
    if protocol not in recipe_protocols(recipe):
        return None
    return load_recognizer_config(recipe, protocol=protocol).data.protocol


def recipe_command(recipe: Path, prepared: Path, protocol: str) -> str:
    """The command that trains ``recipe`` alone for ``protocol`` (what the demo prints)."""
    variant = f" --protocol {protocol}" if protocol in recipe_protocols(recipe) else ""
    return f"python scripts/train_recognizer.py --config configs/{recipe.name}{variant} data.prepared={prepared}"


def scorer_use(prepared: Path, protocol: str, size: int, val_subjects: int) -> Use:
    """What a GAN run's recognizer (identity loss and validation scorer) must not have seen: the protocol's test
    subjects and the run's validation subjects; and, where the shared recipe has a variant for the protocol, the
    training split it must come from."""
    manifest = read_manifest(prepared, protocol, size)
    return Use(protocol, manifest.dataset, size, frozenset(manifest.subjects("test")),
               validation_subjects(manifest.subjects("train"), val_subjects), recognizer_split(protocol))


def newest_suitable_recognizer(runs_root: Path, use: Use, kind: str = RECOGNIZER, check=None) -> Path | None:
    """The newest recognizer that suits ``use`` (``check``, when given, instead of ``use``'s own: a judge's, which also
    asks for independence); None (after saying which were passed over, and why) when none does."""
    try:
        return newest_recognizer(runs_root, kind, check or use.check("recognizer"), use.describe())
    except NoneSuits as e:
        print("\n".join(["passing over every trained recognizer:", *e.skipped]))
        return None


def shared_recipe_overrides(protocol: str, val_subjects: int) -> list[str]:
    """The shared recipe (its variant for ``protocol``), made to leave out the run's validation and test subjects
    whatever the recipe file says."""
    data = load_recognizer_config(SHARED_RECIPE, protocol=protocol).data
    excluded = list(dict.fromkeys([*data.exclude_test_of, protocol]))
    return [f"data.exclude_test_of=[{','.join(excluded)}]", f"data.exclude_validation={max(data.exclude_validation, val_subjects)}"]


def ensure_recognizer(cfg: Config, progress: bool = True) -> None:
    """``loss.recognizer=auto``: the newest recognizer under ``train.runs_dir`` that never saw the run's test or
    validation subjects, trained first if there is none."""
    if cfg.loss.recognizer != "auto":
        return
    use = scorer_use(Path(cfg.data.prepared), cfg.data.protocol, cfg.data.size, cfg.data.val_subjects)
    found = newest_suitable_recognizer(Path(cfg.train.runs_dir), use)
    if found is None:
        print(f"no suitable trained recognizer under {Path(cfg.train.runs_dir) / RECOGNIZER}: training the shared "
              f"recognizer first ({SHARED_RECIPE.name})")
        found = train_shared_recognizer(Path(cfg.data.prepared), cfg.data.size, Path(cfg.train.runs_dir), cfg.wandb.mode,
                                        progress, shared_recipe_overrides(cfg.data.protocol, cfg.data.val_subjects),
                                        cfg.data.protocol)
    cfg.loss.recognizer = str(found)
