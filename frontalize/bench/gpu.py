"""GPU figures (`gpu_` prefix): the paper configuration's training step, the recognizer, `frontalize infer`.

Each one is skipped, with a line that says so, where no CUDA device is present.  The step is timed on
batches already on the device (``Trainer.train_step``: the real phases, optimisers, GradScalers and EMA),
so the figures are the networks' and not the loader's.  Medians over the timed steps, after warm-up.
"""
from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from frontalize.bench.registry import benchmark
from frontalize.geometry.pose import frontal_pose

BF16_PEAK_FLOPS = 989e12  # dense bf16 of an H100/H200 SXM, the vendor's datasheet
NO_GPU = "no CUDA device: the gpu_ figures are measured on a GPU machine"
CACHE = Path(os.environ.get("FRONTALIZE_BENCH_CACHE", "runs/bench_cache"))


def _skip(name: str) -> dict:
    return {name: None, "skipped": NO_GPU}  # the runner prints it as "NAME  skipped: ..."


def prepared_tiny(size: int) -> Path:
    """SynthPIE `tiny` prepared at ``size`` px (setting1), generated once into the bench cache."""
    from frontalize.preparation.prep import PrepConfig, prepare
    from frontalize.synthpie.generate import generate

    root, out = CACHE / "synthpie_tiny", CACHE / f"prepared_tiny_{size}"
    generate(root, "tiny", seed=0, progress=False)
    prepare(PrepConfig(root=root, out=out, size=size, workers=os.cpu_count() or 1, progress=False, protocols=("setting1",)))
    return out


# ----------------------------------------------------------------------------------------- the GAN step
def paper_trainer(prepared: Path, run_dir: Path, device: torch.device, mode: str, size: int = 224, width: float = 1.0,
                  extra: list[str] = ()):
    """setting1_4's paper configuration in one of the modes: fp32 | bf16 | fp16 | compile (bf16) | channels_last (bf16)."""
    from frontalize.config import load_config
    from frontalize.losses.reconstruction import IdentityLoss, VGGRelu7Features
    from frontalize.models.vgg import VGGFaceEncoder
    from frontalize.runs.distributed import DistInfo
    from frontalize.training.trainer import Trainer

    overrides = [f"data.prepared={prepared}", f"data.size={size}", f"model.width={width}", "data.val_subjects=0",
                 f"train.runs_dir={run_dir}", "wandb.mode=disabled", "loss.recognizer=null", "loss.identity_features=vgg",
                 f"train.amp={mode != 'fp32'}", f"train.amp_dtype={'float16' if mode == 'fp16' else 'bfloat16'}",
                 f"train.compile={mode == 'compile'}", f"train.channels_last={mode == 'channels_last'}", *extra]
    cfg = load_config("1_4", cpu=False, overrides=overrides)
    trainer = Trainer(cfg, run_dir / mode, DistInfo(), device, progress=False)
    # the notes' identity term through relu7 of a VGG-Face network: with random weights here (VGG-Face's are not on
    # the machine), which costs the same as the real ones
    vgg = VGGFaceEncoder(width=width, frozen=True).to(device, memory_format=trainer.memory_format)
    trainer.phases.identity = IdentityLoss(VGGRelu7Features(vgg))
    return trainer


def _batches(trainer, batch: int) -> list:
    size = trainer.cfg.data.size
    g = torch.Generator(device=trainer.device).manual_seed(0)
    pose = torch.from_numpy(frontal_pose(size).as_vector()).to(trainer.device).expand(batch, -1)
    return [(*(torch.rand(batch, 3, size, size, device=trainer.device, generator=g) * 2 - 1 for _ in range(3)), pose)
            for _ in range(trainer.cfg.optim.critic_iters)]


def time_steps(trainer, batch: int, warmup: int, steps: int) -> dict:
    """Median step time, images/s and peak memory of ``steps`` steps after ``warmup`` (every loss term finite)."""
    data = _batches(trainer, batch)
    sync = torch.cuda.synchronize if trainer.device.type == "cuda" else (lambda: None)
    for _ in range(warmup):
        trainer.train_step(data)
    sync()
    if trainer.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        terms = trainer.train_step(data)  # raises NonFiniteLoss on a NaN or inf term
        sync()
        times.append(time.perf_counter() - t0)
    median = statistics.median(times)
    out = {"batch": batch, "step_s": round(median, 4), "images_per_s": round(batch / median, 1),
           "step_s_min_max": [round(min(times), 4), round(max(times), 4)], "steps_timed": steps,
           "losses_finite": True, "generator_total": round(float(terms["generator_total"]), 4)}
    if trainer.device.type == "cuda":
        out["peak_gpu_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    if trainer.scaler_d.is_enabled():
        out["loss_scales"] = {"critic": trainer.scaler_d.get_scale(), "generator": trainer.scaler_g.get_scale()}
    return out


class _TotalOnly:
    """Stands in for FlopCounterMode's module tracker: its per-module breakdown hooks every module's backward,
    which autograd.grad with respect to leaf inputs (the gradient penalty) does not support; we need the total."""

    parents = {"Global"}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def flops_per_step(trainer, batch: int) -> int:
    """Model FLOPs of one training step (both phases, forward and backward), counted by torch.utils.flop_counter."""
    from torch.utils.flop_counter import FlopCounterMode

    data = _batches(trainer, batch)
    counter = FlopCounterMode(display=False)
    counter.mod_tracker = _TotalOnly()
    with counter:
        trainer.train_step(data)
    return counter.get_total_flops()


def largest_batch(trainer, start: int, limit: int) -> int:
    """The largest power-of-two batch (from ``start``) whose step fits in GPU memory."""
    best, batch = 0, start
    while batch <= limit:
        try:
            time_steps(trainer, batch, warmup=1, steps=1)
            best = batch
        except torch.cuda.OutOfMemoryError:
            break
        finally:
            trainer.opt_g.zero_grad(set_to_none=True)
            trainer.opt_d.zero_grad(set_to_none=True)
            torch.cuda.empty_cache()
        batch *= 2
    return best


MODES = {
    "bf16": "bfloat16 autocast (the CUDA default)",
    "fp32": "float32 (cuDNN's default TF32 convolutions)",
    "fp16": "float16 autocast with two GradScalers, the gradient penalty in float32",
    "channels_last": "bfloat16, NHWC memory layout",
    "compile": "bfloat16, torch.compile(generator)",
}


def _largest_file() -> Path:
    return CACHE / "gpu_largest_batch.json"


def gan_mode_figures(device: torch.device, mode: str, size: int = 224, width: float = 1.0, quick: bool = False) -> dict:
    """setting1_4's paper configuration in one mode: batch 5, and the largest power-of-two batch that fits.

    fp32 and bf16 search their own largest batch (bf16's is remembered in the bench cache); channels-last and
    compile run at bf16's only (one compilation: compiling takes minutes), fp16 at batch 5 only.
    """
    warmup, steps = (1, 2) if quick else (3, 20)
    prepared = prepared_tiny(size)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = paper_trainer(prepared, Path(tmp), device, mode, size, width)
        flops_per_image = flops_per_step(trainer, 5) / 5  # counted eager, before any compilation
        rows = {}
        if mode not in ("channels_last", "compile") or device.type != "cuda":
            rows["batch_5"] = time_steps(trainer, 5, warmup, steps)
        largest = None
        if device.type == "cuda" and not quick:
            if mode in ("fp32", "bf16"):
                largest = largest_batch(trainer, 8, 1024)
                if mode == "bf16":
                    _largest_file().write_text(json.dumps({"bf16": largest}))
            elif mode != "fp16" and _largest_file().exists():
                largest = json.loads(_largest_file().read_text())["bf16"]
        if largest:
            rows[f"batch_{largest}"] = time_steps(trainer, largest, warmup, steps)
    for row in rows.values():
        row["flops_per_step"] = int(flops_per_image * row["batch"])
        row["tflops_per_s"] = round(row["flops_per_step"] / row["step_s"] / 1e12, 3)
        row["mfu_vs_bf16_peak"] = round(row["flops_per_step"] / row["step_s"] / BF16_PEAK_FLOPS, 6)
    return {"mode": mode, "what": MODES[mode], "size": size, "width": width, "flops_per_image": int(flops_per_image),
            "largest_batch": largest, "rows": rows, "bf16_peak_flops": BF16_PEAK_FLOPS,
            "images_per_s": max(r["images_per_s"] for r in rows.values()),
            "note": "setting1_4 paper configuration (5 region critics, WGAN-GP, identity through VGG relu7), batches on the device"}


def _register_gan_mode(mode: str) -> None:
    name = f"gpu_gan_{mode}_images_per_s"

    @benchmark(name, f"setting1_4 paper configuration at 224 px on CUDA, {MODES[mode]}: batch 5 and the largest")
    def run(quick: bool) -> dict:
        if not torch.cuda.is_available():
            return _skip(name)
        torch.backends.cudnn.benchmark = True
        torch._dynamo.config.automatic_dynamic_shapes = False  # compile each batch size for itself, as a run would
        r = gan_mode_figures(torch.device("cuda"), mode, quick=quick)
        return {name: r["images_per_s"], **r, **_device()}


for _mode in MODES:
    _register_gan_mode(_mode)


# ------------------------------------------------------------------------------------------ the recognizer
def recognizer_figures(device: torch.device, arch: str = "r50", batch: int = 128, steps: int = 25, workers: int = 8) -> dict:
    """The recognizer trainer on synthetic faces: images/s of its second epoch (the first one warms up)."""
    from frontalize.recognition.config import load_recognizer_config
    from frontalize.recognition.train import train

    with tempfile.TemporaryDirectory() as tmp:
        cfg = load_recognizer_config(None, [
            "data.source=synthetic", f"data.synthetic_images={batch * steps}", "data.synthetic_classes=1000",
            f"data.workers={workers}", f"model.arch={arch}", f"train.batch_size={batch}", "train.epochs=2",
            f"train.device={device.type}", "train.amp=true", "train.amp_dtype=bfloat16", f"train.runs_dir={tmp}",
            "train.log_every=100000", "wandb.mode=disabled", "eval.protocols=[]"])
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        final = train(cfg, progress=False)
        epochs = [json.loads(line) for line in (final.parent / "metrics.jsonl").read_text().splitlines() if "epoch_s" in line]
    out = {"arch": arch, "batch": batch, "steps_per_epoch": steps, "dtype": "bfloat16",
           "images_per_s_by_epoch": [round(e["images_per_s"], 1) for e in epochs]}
    out["images_per_s"] = out["images_per_s_by_epoch"][-1]
    if device.type == "cuda":
        out["peak_gpu_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    return out


@benchmark("gpu_recognizer_images_per_s", "the recognizer trainer, IResNet-50, batch 128, bf16, on CUDA (synthetic faces)")
def gpu_recognizer(quick: bool) -> dict:
    if not torch.cuda.is_available():
        return _skip("gpu_recognizer_images_per_s")
    torch.backends.cudnn.benchmark = True
    r = recognizer_figures(torch.device("cuda"), steps=5 if quick else 25)
    return {"gpu_recognizer_images_per_s": r["images_per_s"], **r, **_device()}


# --------------------------------------------------------------------------------------------- inference
def infer_figures(device: str, n: int, size: int = 224, width: float = 1.0, batch: int = 32) -> dict:
    """`frontalize infer` on ``n`` SynthPIE profiles with the paper configuration's generator (random weights)."""
    from frontalize.bench.infer import profile_folder
    from frontalize.config import load_config, to_yaml
    from frontalize.inference.frontalizer import Frontalizer, collect_inputs, frontalize_files
    from frontalize.models.factory import build_generator
    from frontalize.runs import checkpoint as ckpt

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        photos = profile_folder(tmp, n, workers=os.cpu_count() or 1)
        cfg = load_config("1_4", cpu=False, overrides=[f"data.size={size}", f"model.width={width}"])
        ckpt.save(tmp / "g.pt", {"generator": build_generator(cfg).state_dict(), "config": to_yaml(cfg)})
        engine = Frontalizer(tmp / "g.pt", device)
        files, _ = collect_inputs([str(photos)], False)
        totals = frontalize_files(engine, files, tmp / "out", batch_size=batch)
    return {"images": len(files), "faces": totals.faces, "no_face_found": totals.failed, "seconds": round(totals.seconds, 2),
            "images_per_s": round(len(files) / totals.seconds, 1), "model_load_s": round(engine.load_seconds, 2),
            "batch": batch, "size": size}


@benchmark("gpu_infer_images_per_s", "`frontalize infer --device cuda` on 256 SynthPIE profiles, 224 px paper-width generator")
def gpu_infer(quick: bool) -> dict:
    if not torch.cuda.is_available():
        return _skip("gpu_infer_images_per_s")
    r = infer_figures("cuda", 32 if quick else 256)
    return {"gpu_infer_images_per_s": r["images_per_s"], **r, **_device()}


def _device() -> dict:
    p = torch.cuda.get_device_properties(0)
    return {"gpu": p.name, "gpu_memory_gib": round(p.total_memory / 2**30, 1), "torch": torch.__version__,
            "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version()}
