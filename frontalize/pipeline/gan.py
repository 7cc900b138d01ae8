"""Launch a GAN run: prepared data and recognizer on demand, the run folder, the trainer, tracking, the summary.

Under torchrun every process calls ``launch``; process-group set-up happens here, never at import.
Rank 0 prepares data and finds (or trains) the recognizer while the others wait, then tells them the
recognizer and the run folder.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from frontalize.config import Config, to_yaml
from frontalize.pipeline.data import ensure_prepared
from frontalize.pipeline.recognizer import ensure_recognizer
from frontalize.runs import checkpoint as ckpt
from frontalize.runs import distributed as ddp
from frontalize.runs.folders import GAN, latest_run_dir, new_run_dir
from frontalize.runs.provenance import subject_ranges
from frontalize.runs.tracking import Tracker
from frontalize.training.data import Mixed
from frontalize.training.trainer import Trainer, check_identity_recognizer, config_dict, truncate_metrics
from frontalize.utils.io import atomic_write_text


class LaunchError(RuntimeError):
    """The run cannot start as asked (e.g. nothing to resume)."""


def training_inputs(inputs) -> str:
    """"595 training inputs"; with ``data.mix``, "1208 training inputs (613 + 595 mixed in)"."""
    if not isinstance(inputs, Mixed):
        return f"{len(inputs)} training inputs"
    first, *mixed = (len(p) for p in inputs.parts)
    return f"{len(inputs)} training inputs ({first} + {' + '.join(map(str, mixed))} mixed in)"


def encoder_origin(cfg: Config) -> str:
    if cfg.model.encoder_weights:
        return f"VGG-Face weights from {cfg.model.encoder_weights}"
    if cfg.model.pretrain.steps > 0:
        return f"identity-pretrained on the training subjects ({cfg.model.pretrain.steps} steps, model.pretrain)"
    return ("random initialisation (no VGG-Face weights; set model.encoder_weights=PATH to load them, "
            "or model.pretrain.steps=N to pretrain it on the training subjects)")


def checkpoint_choice(validation: dict) -> str:
    """The run header's line on what chooses best.pt (``Trainer.validation_summary``)."""
    if not validation["subjects"]:
        return ("no validation subjects: best.pt is not chosen (the periodic check on test probes only monitors, "
                f"{validation['monitoring']})")
    return (f"best.pt chosen on {len(validation['subjects'])} held-out training subjects "
            f"({subject_ranges(validation['subjects'])}), {validation['probes']} validation probes")


def resolve_device(cfg: Config) -> torch.device:
    want = cfg.train.device
    return torch.device("cuda" if (want == "auto" and torch.cuda.is_available()) or want == "cuda" else "cpu")


def _share(info: ddp.DistInfo, value):
    """Rank 0's value on every rank."""
    if not info.active:
        return value
    box = [value]
    torch.distributed.broadcast_object_list(box, src=0)
    return box[0]


def _run_dir(cfg: Config, resume: str | None, info: ddp.DistInfo) -> Path:
    runs = Path(cfg.train.runs_dir) / GAN
    run_dir = None
    if info.is_main:
        if resume:
            run_dir = latest_run_dir(runs, cfg.setting) if resume == "latest" else Path(resume)
            if run_dir is None or not run_dir.exists():
                run_dir = None
        else:
            run_dir = new_run_dir(runs, cfg.setting)
    run_dir = _share(info, str(run_dir) if run_dir else None)
    if run_dir is None:
        raise LaunchError(f"no run of {cfg.setting} to resume under {runs}")
    return Path(run_dir)


def launch(cfg: Config, resume: str | None = None, progress: bool = True) -> dict:
    """Train ``cfg`` (``resume``: a run folder, or "latest" for the newest run of the setting); returns the summary.

    Raises ``NonFiniteLoss`` when a loss term stops being finite (the last good checkpoint is kept).
    """
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    device = resolve_device(cfg)
    info = ddp.setup(device.type)
    if device.type == "cuda":
        device = torch.device("cuda", info.local_rank)
    try:
        if info.is_main:
            ensure_prepared(Path(cfg.data.prepared), cfg.data.protocol, cfg.data.size,
                            Path(cfg.data.root) if cfg.data.root else None, progress=progress)
            ensure_recognizer(cfg, progress)
            check_identity_recognizer(cfg)  # before a run folder exists: a refused recognizer leaves none behind
        cfg.loss.recognizer = _share(info, cfg.loss.recognizer)  # everyone waits for rank 0's preparation
        run_dir = _run_dir(cfg, resume, info)
        trainer = Trainer(cfg, run_dir, info, device, progress=progress)
        last = ckpt.latest(run_dir / "checkpoints") if resume else None
        if last is not None:
            trainer.load_state(ckpt.load(last))
            if info.is_main:
                truncate_metrics(run_dir, trainer.step)
                print(f"resumed {run_dir} from {last.name} (step {trainer.step})")
        if info.is_main:
            atomic_write_text(run_dir / "config.yaml", to_yaml(cfg))
        tracker = Tracker(run_dir, cfg.wandb.project, cfg.setting, f"{cfg.setting}-{run_dir.name}", cfg.wandb.mode,
                          config_dict(cfg), cfg.wandb.init_timeout, run_id=trainer.wandb_id, enabled=info.is_main)
        trainer.wandb_id = tracker.run_id
        if info.is_main:
            print(f"encoder: {encoder_origin(cfg)}")
            print(f"{cfg.setting}: {cfg.data.protocol} at {cfg.data.size}px on {device} x{info.world}, "
                  f"{training_inputs(trainer.inputs)}; {checkpoint_choice(trainer.validation_summary())}; "
                  f"{trainer.identity_note}; run folder {run_dir} (W&B {tracker.mode})")
            print(f"trained on: {trainer.trained_on.describe()}")
        try:
            result = trainer.train(tracker)
        except ckpt.NonFiniteLoss as e:
            e.rank = info.rank  # every process stops; one of them says why
            raise
        finally:
            tracker.finish()
        digests = ddp.replica_digests({"generator": trainer.G, "critics": trainer.D}, info)
        summary = {**result, "run_dir": str(run_dir), "world_size": info.world, "replica_digests": digests,
                   "replicas_identical": all(len(set(v)) == 1 for v in digests.values()),
                   "trained_on": trainer.trained_on.describe(), "validation": trainer.validation_summary()}
        if info.is_main:
            atomic_write_text(run_dir / "summary.json", json.dumps(summary, indent=1))
            print(f"done: step {trainer.step}, run folder {run_dir}")
        return summary
    finally:
        ddp.teardown(info)
