"""Train the shared recognizer: IResNet + combined-margin head, AdamW/SGD, cosine schedule with warm-up.

Data (``data.source``): ``manifest`` — a prepared Multi-PIE/SynthPIE protocol's training split within
+-max_yaw (web-face recognizers see mostly near-frontal faces; this keeps the benchmark faithful),
minus every subject that is a *test* subject of any protocol in ``data.exclude_test_of`` (the
recognizer must never have seen the people it later identifies); ``folder`` — root/<identity>/<image>;
``recordio`` — insightface train.rec/train.idx.  At the end it reports rank-1 by pose on the test
split of each protocol in ``eval.protocols`` and accuracy on any ``eval.bins``.
"""
from __future__ import annotations

import csv
import json
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

import torch
from omegaconf import OmegaConf
from torch.utils.data import DataLoader
from tqdm import tqdm

from frontalize.config import WandbConfig
from frontalize.recognition import data as rdata
from frontalize.recognition.evaluate import rank1_by_pose, verify_bin
from frontalize.recognition.iresnet import get_backbone
from frontalize.recognition.margin import CombinedMarginHead, preset
from frontalize.recognition.recognizer import Recognizer
from frontalize.training import checkpoint as ckpt
from frontalize.training.runs import latest_run_dir, new_run_dir
from frontalize.training.tracking import Tracker


@dataclass
class RecDataConfig:
    source: str = "manifest"  # manifest | folder | recordio
    prepared: str = "runs/demo/prepared"
    protocol: str = "session01"
    size: int = 128
    max_yaw: Optional[int] = 30
    exclude_test_of: list = field(default_factory=lambda: ["setting1", "session01"])
    folder: Optional[str] = None
    rec: Optional[str] = None
    workers: int = 2
    degrade: float = 0.0  # probability of a blur / downscale augmentation (see recognition/data.default_augment)


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
    amp: bool = True
    threads: int = 0
    log_every: int = 20
    keep_last: int = 2
    runs_dir: str = "runs/recognizer"


@dataclass
class RecEvalConfig:
    protocols: list = field(default_factory=lambda: ["setting1", "session01"])
    bins: list = field(default_factory=list)
    flip: bool = True


@dataclass
class RecognizerConfig:
    name: str = "recognizer"
    data: RecDataConfig = field(default_factory=RecDataConfig)
    model: RecModelConfig = field(default_factory=RecModelConfig)
    optim: RecOptimConfig = field(default_factory=RecOptimConfig)
    train: RecTrainConfig = field(default_factory=RecTrainConfig)
    eval: RecEvalConfig = field(default_factory=RecEvalConfig)
    wandb: WandbConfig = field(default_factory=WandbConfig)


def load_recognizer_config(path: Path | None, overrides: list[str] | None = None) -> RecognizerConfig:
    cfg = OmegaConf.structured(RecognizerConfig)
    layers = [OmegaConf.load(path)] if path else []
    layers.append(OmegaConf.from_dotlist(list(overrides or [])))
    return OmegaConf.to_object(OmegaConf.merge(cfg, *layers))


def _manifest(cfg: RecognizerConfig, protocol: str) -> Path:
    path = Path(cfg.data.prepared) / "manifests" / f"{protocol}_{cfg.data.size}.csv"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: run `python data_prep/multipie.py --size {cfg.data.size}` first")
    return path


def _test_subjects(cfg: RecognizerConfig) -> set[int]:
    out = set()
    for protocol in cfg.data.exclude_test_of:
        with open(_manifest(cfg, protocol), newline="") as f:
            out |= {int(r["subject"]) for r in csv.DictReader(f) if r["split"] == "test"}
    return out


def build_dataset(cfg: RecognizerConfig):
    d = cfg.data
    augment = rdata.default_augment(d.degrade)
    if d.source == "folder":
        return rdata.ImageFolderFaces(Path(d.folder), augment=augment)
    if d.source == "recordio":
        return rdata.RecordIOFaces(Path(d.rec), augment=augment)
    if d.source != "manifest":
        raise ValueError(f"unknown data.source {d.source!r}: manifest, folder or recordio")
    ds = rdata.ManifestFaces(Path(d.prepared), _manifest(cfg, d.protocol), "train", d.max_yaw, augment=augment,
                             exclude_subjects=_test_subjects(cfg))
    if ds.num_classes < 2:
        raise ValueError("fewer than 2 training identities left after excluding every protocol's test subjects")
    return ds


def _param_groups(modules, weight_decay: float):
    """No weight decay on norms and biases (the classification notes' lesson)."""
    decay, no_decay = [], []
    for m in modules:
        for name, p in m.named_parameters():
            if not p.requires_grad:
                continue
            (no_decay if p.ndim <= 1 else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def cosine_with_warmup(total: int, warmup: int):
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(warmup, 1)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(total - warmup, 1))))

    return factor


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def train(cfg: RecognizerConfig, resume: bool = False, progress: bool = True) -> Path:
    t = cfg.train
    torch.manual_seed(t.seed)
    if t.threads:
        torch.set_num_threads(t.threads)
    device = resolve_device(t.device)
    run_dir = latest_run_dir(Path(t.runs_dir), cfg.name) if resume else None
    run_dir = run_dir or new_run_dir(Path(t.runs_dir), cfg.name)
    (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(OmegaConf.structured(cfg)))
    dataset = build_dataset(cfg)
    loader = DataLoader(dataset, batch_size=t.batch_size, shuffle=True, drop_last=True, num_workers=cfg.data.workers,
                        persistent_workers=cfg.data.workers > 0, generator=torch.Generator().manual_seed(t.seed))
    if len(loader) == 0:
        raise ValueError(f"{len(dataset)} training images are fewer than one batch of {t.batch_size}")
    m = cfg.model
    backbone = get_backbone(m.arch, m.width, m.embedding, m.dropout).to(device)
    head = CombinedMarginHead(backbone.fc.out_features, dataset.num_classes, preset(m.margin), m.scale).to(device)
    params = _param_groups([backbone, head], cfg.optim.weight_decay)
    if cfg.optim.name == "sgd":
        opt = torch.optim.SGD(params, lr=cfg.optim.lr, momentum=cfg.optim.momentum)
    else:
        opt = torch.optim.AdamW(params, lr=cfg.optim.lr)
    total = t.epochs * len(loader)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, cosine_with_warmup(total, int(cfg.optim.warmup_fraction * total)))
    use_amp = t.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    step, start_epoch, wandb_id = 0, 0, None
    last = ckpt.latest(run_dir / "checkpoints")
    if last is not None:
        state = ckpt.load(last)
        backbone.load_state_dict(state["backbone"])
        head.load_state_dict(state["head"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        step, start_epoch, wandb_id = state["step"], state["epoch"], state.get("wandb_id") or None
        ckpt.set_rng_state(state["rng"])
        print(f"resumed {run_dir} at epoch {start_epoch} (step {step})")
    tracker = Tracker(run_dir, cfg.wandb.project, "recognizer", run_dir.name, cfg.wandb.mode, asdict(cfg),
                      cfg.wandb.init_timeout, run_id=wandb_id)
    loss_fn = torch.nn.CrossEntropyLoss()
    print(f"recognizer {m.arch} ({sum(p.numel() for p in backbone.parameters()) / 1e6:.2f} M params), "
          f"{len(dataset)} images of {dataset.num_classes} identities, {t.epochs} epochs on {device} -> {run_dir}")
    t_start = time.perf_counter()
    for epoch in range(start_epoch, t.epochs):
        backbone.train()
        seen, correct, t_epoch = 0, 0, time.perf_counter()
        for images, labels in tqdm(loader, desc=f"epoch {epoch + 1}/{t.epochs}", disable=not progress, leave=False):
            images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
            with torch.autocast(device.type, enabled=use_amp):
                emb = backbone(images)
            logits = head(emb.float(), labels)
            loss = loss_fn(logits, labels)
            ckpt.check_finite(step, {"arcface": loss})
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            sched.step()
            step += 1
            with torch.no_grad():
                correct += int((head.cosine(emb.float()).argmax(1) == labels).sum())
                seen += len(labels)
            if step % t.log_every == 0:
                tracker.log(step, {"loss": loss.item(), "lr": sched.get_last_lr()[0], "epoch": epoch})
        tracker.log(step, {"train_accuracy": correct / max(seen, 1), "epoch_s": time.perf_counter() - t_epoch,
                           "images_per_s": seen / (time.perf_counter() - t_epoch)})
        ckpt.save(ckpt.step_path(run_dir / "checkpoints", step), {
            "backbone": backbone.state_dict(), "head": head.state_dict(), "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict(), "scaler": scaler.state_dict(), "step": step, "epoch": epoch + 1,
            "rng": ckpt.rng_state(), "wandb_id": tracker.run_id or "", "config": OmegaConf.to_yaml(OmegaConf.structured(cfg)),
        })
        ckpt.prune(run_dir / "checkpoints", t.keep_last)
    train_seconds = time.perf_counter() - t_start
    final = run_dir / "recognizer.pt"
    ckpt.save(final, {"backbone": backbone.state_dict(),
                      "backbone_config": json.dumps({"arch": m.arch, "width": m.width, "embedding": m.embedding})})
    report = evaluate_run(cfg, Recognizer.load(final, device=str(device)), device)
    report["train_seconds"] = round(train_seconds, 1)
    (run_dir / "eval.json").write_text(json.dumps(report, indent=1))
    for protocol, table in report["rank1"].items():
        print(format_rank1_table(protocol, table))
        tracker.log_table(step, f"rank1_{protocol}", ["yaw", "rank1", "probes"],
                          [[str(k), v["accuracy"], v["probes"]] for k, v in table.items()])
    for name, res in report["verification"].items():
        print(f"{name}: {res['accuracy']:.4f} +- {res['std']:.4f}")
    tracker.finish()
    return final


def rank1_for_protocol(recognizer: Recognizer, prepared: Path, manifest: Path, size: int, device, flip: bool = False) -> dict:
    from frontalize.evaluation.identity import embed

    with open(manifest, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["split"] == "test"]
    gallery = [r for r in rows if r["role"] == "gallery"]
    probes = [r for r in rows if r["role"] == "probe"]
    # a gallery per expression (session01): probes are matched against the gallery of their own recording
    tables = {}
    for rec in sorted({r["recording"] for r in gallery}):
        g = [r for r in gallery if r["recording"] == rec]
        p = [r for r in probes if r["recording"] == rec]
        tables[rec] = rank1_by_pose(embed(recognizer, prepared, g, size, device, flip=flip), [r["subject"] for r in g],
                                    embed(recognizer, prepared, p, size, device, flip=flip), [r["subject"] for r in p],
                                    [int(r["yaw"]) for r in p])
    return _merge_tables(tables)


def _merge_tables(tables: dict) -> dict:
    merged: dict = {}
    for table in tables.values():
        for yaw, v in table.items():
            acc = merged.setdefault(yaw, {"correct": 0.0, "probes": 0})
            acc["correct"] += v["accuracy"] * v["probes"]
            acc["probes"] += v["probes"]
    return {k: {"accuracy": v["correct"] / v["probes"] if v["probes"] else float("nan"), "probes": v["probes"]}
            for k, v in merged.items()}


def evaluate_run(cfg: RecognizerConfig, recognizer: Recognizer, device) -> dict:
    report = {"rank1": {}, "verification": {}}
    for protocol in cfg.eval.protocols:
        manifest = Path(cfg.data.prepared) / "manifests" / f"{protocol}_{cfg.data.size}.csv"
        if manifest.exists():
            report["rank1"][protocol] = rank1_for_protocol(recognizer, Path(cfg.data.prepared), manifest, cfg.data.size,
                                                           device, cfg.eval.flip)
    for path in cfg.eval.bins:
        report["verification"][Path(path).stem] = verify_bin(recognizer, Path(path), flip=cfg.eval.flip, device=str(device))
    return report


def format_rank1_table(protocol: str, table: dict) -> str:
    yaws = [k for k in table if k != "all"]
    head = " | ".join(f"{y:+d}" for y in yaws)
    vals = " | ".join(f"{100 * table[y]['accuracy']:.1f}" for y in yaws)
    return (f"rank-1 (%) by yaw, {protocol} test probes ({table['all']['probes']} probes, all: "
            f"{100 * table['all']['accuracy']:.1f})\n| {head} |\n|{'---|' * len(yaws)}\n| {vals} |")


def main(argv=None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="train_recognizer", description="Train the shared ArcFace recognizer.")
    p.add_argument("--config", type=Path, default=Path("configs/recognizer_synthpie.yaml"))
    p.add_argument("--resume", action="store_true", help="continue the newest run of this config's name")
    p.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    p.add_argument("--evaluate", type=Path, metavar="RECOGNIZER", help="only evaluate this recognizer.pt with the config's eval settings")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("overrides", nargs="*", help="key=value overrides, e.g. train.epochs=5")
    args = p.parse_args(argv)
    try:
        cfg = load_recognizer_config(args.config if args.config.exists() else None, args.overrides)
    except Exception as e:
        print(f"error: bad configuration: {e}", file=sys.stderr)
        return 2
    if args.dry_run:
        print(OmegaConf.to_yaml(OmegaConf.structured(cfg)))
        return 0
    if args.evaluate:
        device = resolve_device(cfg.train.device)
        report = evaluate_run(cfg, Recognizer.load(args.evaluate, device=str(device)), device)
        for protocol, table in report["rank1"].items():
            print(format_rank1_table(protocol, table))
        for name, res in report["verification"].items():
            print(f"{name}: {res['accuracy']:.4f} +- {res['std']:.4f}")
        return 0
    try:
        final = train(cfg, resume=args.resume, progress=not args.quiet)
    except (FileNotFoundError, ValueError, ckpt.NonFiniteLoss) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"recognizer written to {final}")
    return 0
