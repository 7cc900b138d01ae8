"""`train_images_per_s`: the real trainer on prepared SynthPIE `small`, setting1_4 at 128 px (full width) and the CPU configuration."""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import torch

from frontalize.bench.registry import benchmark
from frontalize.bench.prep import synthpie_subset
from frontalize.config import load_config
from frontalize.preparation.prep import PrepConfig, prepare
from frontalize.runs import distributed as ddp
from frontalize.runs.tracking import Tracker
from frontalize.training.trainer import Trainer


def _images_per_s(cfg, run_dir: Path, steps: int) -> tuple[float, float]:
    cfg.train.steps = steps
    trainer = Trainer(cfg, run_dir, ddp.DistInfo(), torch.device("cpu"), progress=False)
    tracker = Tracker(run_dir, "bench", "bench", "bench", "disabled", {}, enabled=False)
    cfg.train.steps = 1
    trainer.train(tracker)  # warm-up step: allocation, worker start
    cfg.train.steps = steps
    t0 = time.perf_counter()
    trainer.train(tracker)
    seconds = time.perf_counter() - t0
    images = (steps - 1) * cfg.train.batch_size * cfg.optim.critic_iters
    return images / seconds, seconds / (steps - 1)


@benchmark("train_images_per_s", "trainer images/s on SynthPIE small: setting1_4 at 128 px (paper width) and the CPU configuration")
def train_speed(quick: bool) -> dict:
    torch.set_num_threads(2)
    root = synthpie_subset(8)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        prepare(PrepConfig(root=root, out=tmp / "prepared", size=128, workers=2, progress=False, protocols=("setting1",)))
        common = [f"data.prepared={tmp / 'prepared'}", "train.sample_every=100000", "train.eval_every=100000",
                  "train.checkpoint_every=100000", "train.log_every=100000", "loss.identity_features=vgg", "loss.recognizer=null",
                  "data.val_subjects=0"]
        cpu = load_config("1_4", cpu=True, overrides=common)
        paper = load_config("1_4", cpu=False, overrides=[*common, "data.size=128", "train.threads=2", "data.workers=2"])
        cpu_rate, cpu_step = _images_per_s(cpu, tmp / "cpu", 4 if quick else 12)
        paper_rate, paper_step = _images_per_s(paper, tmp / "paper", 2 if quick else 4)
    return {
        "train_images_per_s": round(paper_rate, 2),
        "setting1_4_128px_paper_width": {"images_per_s": round(paper_rate, 2), "step_s": round(paper_step, 2),
                                          "batch": paper.train.batch_size, "width": paper.model.width},
        "cpu_configuration": {"images_per_s": round(cpu_rate, 2), "step_s": round(cpu_step, 3),
                              "batch": cpu.train.batch_size, "width": cpu.model.width},
        "note": "identity loss off here (no VGG-Face weights on this machine); the demo adds the recognizer's",
    }
