"""Train the shared recognizer: IResNet + combined-margin head, AdamW/SGD, cosine schedule with warm-up.

Data (``data.source``): ``manifest`` — a prepared Multi-PIE/SynthPIE protocol's training split within
+-max_yaw (web-face recognizers see mostly near-frontal faces; this keeps the benchmark faithful),
minus every subject that is a *test* subject of any protocol in ``data.exclude_test_of`` (the
recognizer must never have seen the people it later identifies) and the last ``data.exclude_validation``
training subjects of its protocol and of each of those (the validation identities a GAN run chooses its
checkpoint on, data/protocols.py: the recognizer that scores that choice must not know them);
``folder`` — root/<identity>/<image>; ``recordio`` — insightface train.rec/train.idx.  Every checkpoint, the
final ``recognizer.pt`` and each ``checkpoints/step_*.pt``, records what it was trained on (runs/provenance.py: the
identities actually used, or "external" data, and the seed) and its architecture.  Batches and their augmentation
are a pure function of (seed, step) (data/sampling.py), so two runs of one configuration train on the same pictures
and a resumed run continues exactly.  At the end it reports rank-1 by pose on the test split of each
protocol in ``eval.protocols`` (evaluation/identification.py) and accuracy on any ``eval.bins``.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from frontalize.data.manifest import read_manifest
from frontalize.data.protocols import validation_subjects
from frontalize.data.sampling import StepBatches
from frontalize.evaluation.identification import Scorer, identify
from frontalize.evaluation.report import column_heading, table_columns
from frontalize.recognition import data as rdata
from frontalize.recognition.config import RecognizerConfig, recognizer_yaml
from frontalize.recognition.iresnet import get_backbone
from frontalize.recognition.margin import CombinedMarginHead, preset
from frontalize.recognition.recognizer import Recognizer
from frontalize.recognition.verification import verify_bin
from frontalize.runs import checkpoint as ckpt
from frontalize.runs.folders import latest_run_dir, new_run_dir
from frontalize.runs.precision import choose_precision
from frontalize.runs.provenance import EXTERNAL, RECORD_KEY, TrainedOn, manifest_fingerprint
from frontalize.runs.tracking import Tracker
from frontalize.utils.io import atomic_write_text


def build_dataset(cfg: RecognizerConfig):
    """The training images and the record of what they are (``TrainedOn``: who, which split, which manifests)."""
    d = cfg.data
    augment = rdata.default_augment(d.degrade)
    notes = {"recipe": cfg.name, "seed": cfg.train.seed}  # the seed: what tells a judge from a re-run of the shared one
    if d.source == "folder":
        return rdata.ImageFolderFaces(Path(d.folder), augment=augment), TrainedOn(f"{EXTERNAL}: image folder {d.folder}",
                                                                                   None, None, (), notes=notes)
    if d.source == "recordio":
        return rdata.RecordIOFaces(Path(d.rec), augment=augment), TrainedOn(f"{EXTERNAL}: RecordIO {d.rec}", None, None, (),
                                                                             notes=notes)
    if d.source == "synthetic":
        return (rdata.SyntheticFaces(d.synthetic_images, d.synthetic_classes, cfg.train.seed),
                TrainedOn(f"{EXTERNAL}: synthetic", None, None, (), notes=notes))
    if d.source != "manifest":
        raise ValueError(f"unknown data.source {d.source!r}: manifest, folder, recordio or synthetic")
    manifests = {p: read_manifest(d.prepared, p, d.size) for p in dict.fromkeys([d.protocol, *d.exclude_test_of])}
    tested = set().union(*(manifests[p].subjects("test") for p in d.exclude_test_of))
    validation = set()
    for p, m in manifests.items():
        try:
            validation |= validation_subjects(m.subjects("train"), d.exclude_validation)
        except ValueError as e:
            raise ValueError(f"data.exclude_validation={d.exclude_validation} on {p}: {e}") from None
    ds = rdata.ManifestFaces(Path(d.prepared), manifests[d.protocol].rows, "train", d.max_yaw, augment=augment,
                             exclude_subjects=tested | validation, per_subject=d.per_subject, seed=cfg.train.seed)
    if ds.num_classes < 2:
        raise ValueError("fewer than 2 training identities left after excluding every protocol's test subjects "
                         "and the validation subjects")
    record = TrainedOn(manifests[d.protocol].dataset, d.protocol, d.size, tuple(sorted(ds.class_of)), (),
                       manifest_fingerprint([m.path for m in manifests.values()]),
                       {**notes, "max_yaw": d.max_yaw, **({"per_subject": d.per_subject} if d.per_subject else {}),
                        "excluded_test_subjects_of": list(d.exclude_test_of),
                        "excluded_validation_subjects": sorted(validation)})
    return ds, record


def _param_groups(modules, weight_decay: float):
    """No weight decay on norms and biases (the classification notes' lesson)."""
    decay, no_decay = [], []
    for m in modules:
        for p in m.parameters():
            if p.requires_grad:
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
    """Train (or continue the newest run of ``cfg.name``); returns the final ``recognizer.pt``."""
    t = cfg.train
    torch.manual_seed(t.seed)
    if t.threads:
        torch.set_num_threads(t.threads)
    device = resolve_device(t.device)
    run_dir = latest_run_dir(Path(t.runs_dir), cfg.name) if resume else None
    run_dir = run_dir or new_run_dir(Path(t.runs_dir), cfg.name)
    atomic_write_text(run_dir / "config.yaml", recognizer_yaml(cfg))
    dataset, trained_on = build_dataset(cfg)
    steps_per_epoch = len(dataset) // t.batch_size
    if steps_per_epoch == 0:
        raise ValueError(f"{len(dataset)} training images are fewer than one batch of {t.batch_size}")
    m = cfg.model
    backbone = get_backbone(m.arch, m.width, m.embedding, m.dropout).to(device)
    head = CombinedMarginHead(backbone.fc.out_features, dataset.num_classes, preset(m.margin), m.scale).to(device)
    params = _param_groups([backbone, head], cfg.optim.weight_decay)
    if cfg.optim.name == "sgd":
        opt = torch.optim.SGD(params, lr=cfg.optim.lr, momentum=cfg.optim.momentum)
    else:
        opt = torch.optim.AdamW(params, lr=cfg.optim.lr)
    total = t.epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(opt, cosine_with_warmup(total, int(cfg.optim.warmup_fraction * total)))
    precision = choose_precision(device, t.amp, t.amp_dtype)
    scaler = precision.scaler()
    step, wandb_id = 0, None
    # every checkpoint, step or final, says what it is and what it was trained on: any of them may be passed on
    architecture = json.dumps({"arch": m.arch, "width": m.width, "embedding": m.embedding})
    last = ckpt.latest(run_dir / "checkpoints")
    if last is not None:
        state = ckpt.load(last)
        backbone.load_state_dict(state["backbone"])
        head.load_state_dict(state["head"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        step, wandb_id = state["step"], state.get("wandb_id") or None
        ckpt.set_rng_state(state["rng"])
        print(f"resumed {run_dir} at epoch {step // steps_per_epoch} (step {step})")
    tracker = Tracker(run_dir, cfg.wandb.project, "recognizer", run_dir.name, cfg.wandb.mode, asdict(cfg),
                      cfg.wandb.init_timeout, run_id=wandb_id)
    sampler = StepBatches(len(dataset), t.batch_size, t.seed, start_step=step, steps=total - step)
    loader = DataLoader(dataset, batch_sampler=sampler, num_workers=cfg.data.workers, persistent_workers=False,
                        pin_memory=device.type == "cuda", prefetch_factor=2 if cfg.data.workers else None)
    loss_fn = torch.nn.CrossEntropyLoss()
    print(f"recognizer {m.arch} ({sum(p.numel() for p in backbone.parameters()) / 1e6:.2f} M params), "
          f"{len(dataset)} images of {dataset.num_classes} identities, {t.epochs} epochs on {device} ({precision.name}) "
          f"-> {run_dir}\ntrained on: {trained_on.describe()}")
    t_start = t_epoch = time.perf_counter()
    seen = correct = 0
    backbone.train()
    bar = tqdm(total=total, initial=step, desc="recognizer", unit="step", disable=not progress)
    for images, labels in loader:
        images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
        with precision.autocast():
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
        bar.update(1)
        with torch.no_grad():
            correct += int((head.cosine(emb.float()).argmax(1) == labels).sum())
            seen += len(labels)
        if step % t.log_every == 0:
            tracker.log(step, {"loss": loss.item(), "lr": sched.get_last_lr()[0], "epoch": step / steps_per_epoch})
        if step % steps_per_epoch == 0:
            epoch = step // steps_per_epoch
            bar.set_postfix(epoch=f"{epoch}/{t.epochs}", loss=f"{loss.item():.2f}", acc=f"{correct / seen:.2f}")
            tracker.log(step, {"train_accuracy": correct / seen, "epoch_s": time.perf_counter() - t_epoch,
                               "images_per_s": seen / (time.perf_counter() - t_epoch)})
            ckpt.save(ckpt.step_path(run_dir / "checkpoints", step), {
                "backbone": backbone.state_dict(), "head": head.state_dict(), "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(), "scaler": scaler.state_dict(), "step": step, "epoch": epoch,
                "rng": ckpt.rng_state(), "wandb_id": tracker.run_id or "", "config": recognizer_yaml(cfg),
                RECORD_KEY: trained_on.to_json(), "backbone_config": architecture,
            })
            ckpt.prune(run_dir / "checkpoints", t.keep_last)
            seen = correct = 0
            t_epoch = time.perf_counter()
    bar.close()
    train_seconds = time.perf_counter() - t_start
    final = run_dir / "recognizer.pt"
    ckpt.save(final, {"backbone": backbone.state_dict(), RECORD_KEY: trained_on.to_json(), "backbone_config": architecture})
    report = evaluate_run(cfg, Recognizer.load(final, device=str(device)), device, progress)
    report["train_seconds"] = round(train_seconds, 1)
    atomic_write_text(run_dir / "eval.json", json.dumps(report, indent=1))
    for protocol, table in report["rank1"].items():
        print(format_rank1_table(protocol, table))
        tracker.log_table(step, f"rank1_{protocol}", ["yaw", "rank1", "probes"],
                          [[str(k), v["raw"], v["probes"]] for k, v in table.items()])
    for name, res in report["verification"].items():
        print(f"{name}: {res['accuracy']:.4f} +- {res['std']:.4f}")
    tracker.finish()
    return final


def evaluate_run(cfg: RecognizerConfig, recognizer: Recognizer, device, progress: bool = False) -> dict:
    """Rank-1 of the raw probes by yaw per protocol in ``eval.protocols`` (prepared ones only), and the pair files."""
    report = {"rank1": {}, "verification": {}}
    d = cfg.data
    for protocol in cfg.eval.protocols:
        try:
            rows = read_manifest(d.prepared, protocol, d.size).rows
        except FileNotFoundError:
            continue
        result = identify(rows, Path(d.prepared), d.size, device, [Scorer("", recognizer)], protocol, flip=cfg.eval.flip,
                          per_yaw=cfg.eval.probes_per_column, progress=progress)
        report["rank1"][protocol] = result["table"]
        if result["without_gallery"]["probes"]:
            report.setdefault("without_gallery", {})[protocol] = result["without_gallery"]
        if result["subsample"]:
            report.setdefault("subsample", {})[protocol] = result["subsample"]
    for path in cfg.eval.bins:
        report["verification"][Path(path).stem] = verify_bin(recognizer, Path(path), flip=cfg.eval.flip, device=str(device))
    return report


def format_rank1_table(protocol: str, table: dict) -> str:
    columns = table_columns(table)
    head = " | ".join(column_heading(c) for c in columns)
    vals = " | ".join(f"{100 * table[c]['raw']:.1f}" for c in columns)
    return (f"rank-1 (%) by yaw, {protocol} test probes ({table['all']['probes']} probes, all: "
            f"{100 * table['all']['raw']:.1f})\n| {head} |\n|{'---|' * len(columns)}\n| {vals} |")
