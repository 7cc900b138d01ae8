"""`python scripts/train_gan.py --setting 1_4` (or `frontalize train`): train a frontalization GAN.

Without a GPU the CPU configuration (configs/cpu.yaml) is used unless --paper is given.  On a fresh
machine the embedded default is prepared first (SynthPIE `small`), and the shared recognizer is trained
when the setting needs one and none exists.  Under torchrun every process runs this same main().
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import torch

from frontalize.config import CONFIG_DIR, Config, ConfigError, load_config, to_yaml

RECOGNIZER_RUNS = Path("runs/recognizer")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--setting", required=True, help="named setting: 1_4, setting1_4, session01_2, ...")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--cpu", action="store_true", help="the CPU configuration (default when no GPU is present)")
    group.add_argument("--paper", action="store_true", help="the paper configuration even without a GPU")
    p.add_argument("--resume", nargs="?", const="latest", help="continue a run: its folder, or the newest run of this setting")
    p.add_argument("--dry-run", action="store_true", help="print the resolved configuration and exit")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("overrides", nargs="*", help="key=value overrides, e.g. train.steps=200 loss.l1=5")


def resolve(args) -> Config:
    cpu = args.cpu or (not args.paper and not torch.cuda.is_available())
    cfg = load_config(args.setting, cpu=cpu, overrides=args.overrides)
    if cpu and not args.cpu:
        print("no GPU found: using the CPU configuration (configs/cpu.yaml); --paper forces the paper one")
    return cfg


def ensure_prepared(cfg: Config, workers: int) -> None:
    from frontalize.training.trainer import manifest_path

    if manifest_path(cfg).exists():
        return
    from frontalize.data.prep import PrepConfig, prepare

    root = cfg.data.root
    if root is None:
        from frontalize.synthpie.generate import generate

        root = str(Path(cfg.data.prepared).parent / "synthpie")
        print(f"no prepared data at {cfg.data.prepared}: preparing the embedded default (SynthPIE `small` at {root})")
        generate(Path(root), "small", seed=0, workers=workers)
    else:
        print(f"preparing {root} into {cfg.data.prepared} at {cfg.data.size} px")
    prepare(PrepConfig(root=Path(root), out=Path(cfg.data.prepared), size=cfg.data.size, workers=workers))


def encoder_origin(cfg) -> str:
    if cfg.model.encoder_weights:
        return f"VGG-Face weights from {cfg.model.encoder_weights}"
    if cfg.model.pretrain.steps > 0:
        return f"identity-pretrained on the training subjects ({cfg.model.pretrain.steps} steps, model.pretrain)"
    return ("random initialisation (no VGG-Face weights; set model.encoder_weights=PATH to load them, "
            "or model.pretrain.steps=N to pretrain it on the training subjects)")


def checkpoint_choice(val_subjects: set[int]) -> str:
    if not val_subjects:
        return "no validation subjects: best.pt is not chosen (the periodic check on test probes only monitors)"
    return f"best.pt chosen on {len(val_subjects)} held-out training subjects ({', '.join(map(str, sorted(val_subjects)))})"


def newest_recognizer() -> Path | None:
    found = sorted(RECOGNIZER_RUNS.glob("*/recognizer.pt"), key=lambda p: int(p.parent.name.split("-", 1)[0]))
    return found[-1] if found else None


def ensure_recognizer(cfg: Config) -> None:
    """`loss.recognizer=auto`: the newest trained recognizer, trained now on this data if there is none."""
    if cfg.loss.recognizer != "auto":
        return
    found = newest_recognizer()
    if found is None:
        from frontalize.recognition.train import load_recognizer_config, train

        print("no trained recognizer found: training the shared recognizer first (configs/recognizer_synthpie.yaml)")
        rcfg = load_recognizer_config(CONFIG_DIR / "recognizer_synthpie.yaml",
                                      [f"data.prepared={cfg.data.prepared}", f"data.size={cfg.data.size}",
                                       f"wandb.mode={cfg.wandb.mode}", f"train.runs_dir={RECOGNIZER_RUNS}"])
        found = train(rcfg)
    cfg.loss.recognizer = str(found)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="train_gan", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    return run(p.parse_args(argv))


def run(args: argparse.Namespace) -> int:
    from frontalize.training import checkpoint as ckpt
    from frontalize.training import distributed as ddp
    from frontalize.training.runs import latest_run_dir, new_run_dir
    from frontalize.training.tracking import Tracker
    from frontalize.training.trainer import Trainer, config_dict, truncate_metrics

    try:
        cfg = resolve(args)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.dry_run:
        print(to_yaml(cfg))
        return 0
    t = cfg.train
    if t.threads:
        torch.set_num_threads(t.threads)
    device = torch.device("cuda" if (t.device == "auto" and torch.cuda.is_available()) or t.device == "cuda" else "cpu")
    info = ddp.setup(device.type)
    if device.type == "cuda":
        device = torch.device("cuda", info.local_rank)
    try:
        if info.is_main:
            ensure_prepared(cfg, workers=max(1, os.cpu_count() or 1))
            ensure_recognizer(cfg)
        if info.active:  # everyone waits for rank 0's preparation and learns the recognizer path
            box = [cfg.loss.recognizer]
            torch.distributed.broadcast_object_list(box, src=0)
            cfg.loss.recognizer = box[0]
        runs = Path(t.runs_dir) / "gan"
        run_dir = None
        if args.resume:
            run_dir = latest_run_dir(runs, cfg.setting) if args.resume == "latest" else Path(args.resume)
            if run_dir is None or not run_dir.exists():
                print(f"error: no run of {cfg.setting} to resume under {runs}", file=sys.stderr)
                return 2
        if info.is_main and run_dir is None:
            run_dir = new_run_dir(runs, cfg.setting)
        if info.active:
            box = [str(run_dir) if run_dir else None]
            torch.distributed.broadcast_object_list(box, src=0)
            run_dir = Path(box[0])
        trainer = Trainer(cfg, run_dir, info, device, progress=not args.quiet)
        last = ckpt.latest(run_dir / "checkpoints") if args.resume else None
        if last is not None:
            trainer.load_state(ckpt.load(last))
            if info.is_main:
                truncate_metrics(run_dir, trainer.step)
                print(f"resumed {run_dir} from {last.name} (step {trainer.step})")
        if info.is_main:
            (run_dir / "config.yaml").write_text(to_yaml(cfg))
        tracker = Tracker(run_dir, cfg.wandb.project, cfg.setting, f"{cfg.setting}-{run_dir.name}", cfg.wandb.mode,
                          config_dict(cfg), cfg.wandb.init_timeout, run_id=trainer.wandb_id, enabled=info.is_main)
        trainer.wandb_id = tracker.run_id
        if info.is_main:
            print(f"encoder: {encoder_origin(cfg)}")
            print(f"{cfg.setting}: {cfg.data.protocol} at {cfg.data.size}px on {device} x{info.world}, "
                  f"{len(trainer.inputs)} training inputs; {checkpoint_choice(trainer.val_subjects)}; {trainer.identity_note}; "
                  f"run folder {run_dir} "
                  f"(W&B {tracker.mode})")
        try:
            result = trainer.train(tracker)
        except ckpt.NonFiniteLoss as e:
            if info.is_main:
                print(f"error: {e}", file=sys.stderr)
            return 1
        finally:
            tracker.finish()
        digests = ddp.replica_digests({"generator": trainer.G, "critics": trainer.D}, info)
        if info.is_main:
            summary = {**result, "run_dir": str(run_dir), "world_size": info.world, "replica_digests": digests,
                       "replicas_identical": all(len(set(v)) == 1 for v in digests.values())}
            (run_dir / "summary.json").write_text(json.dumps(summary, indent=1))
            print(f"done: step {trainer.step}, run folder {run_dir}")
        return 0
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        ddp.teardown(info)
