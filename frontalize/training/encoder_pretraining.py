"""Identity pretraining of the generator's encoder: our stand-in for VGG-Face weights.

The notes' generator starts from VGG-Face, a VGG-16 trained to tell 2,622 people apart, so its relu7
already separates people the generator has never seen.  Without such weights (SynthPIE, narrow CPU
widths) the encoder starts from noise and learns identity only through the decoder, from the GAN's few
training subjects.  This step first trains the same VGG-16, at the configured width, as a face
classifier (an ArcFace margin on a 256-d embedding of relu7) on the GAN's own training images — never a
validation or test subject — and hands its convolutions and fc6/fc7 to the generator in the VGG-Face
"dag" layout that ``model.encoder_weights`` loads.  The embedding and the class weights are dropped, as
VGG-Face's fc8 is.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import albumentations as A
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader
from tqdm import tqdm

from frontalize.config import Config
from frontalize.models.vgg import VGGFaceEncoder, vgg_face_dag_state
from frontalize.recognition.data import default_augment
from frontalize.recognition.margin import CombinedMarginHead, preset
from frontalize.data.sampling import StepBatches
from frontalize.runs import checkpoint as ckpt
from frontalize.training.data import SubjectImages
from frontalize.utils.io import atomic_write_text

EMBEDDING = 256
MARGIN_SCALE = 32.0  # as the SynthPIE recognizer: an easier start on a few dozen identities


def identity_augment() -> A.Compose:
    """The recognizer's augmentation (mirror, light, small geometric jitter), taking the image lists' target key."""
    return A.Compose(default_augment().transforms, additional_targets={"target": "image"})


class IdentityClassifier(nn.Module):
    """The encoder, a BN'd linear embedding of its relu7, and an ArcFace head over the training subjects."""

    def __init__(self, width: float, classes: int):
        super().__init__()
        self.encoder = VGGFaceEncoder(width=width)
        self.embed = nn.Sequential(nn.Dropout(0.2), nn.Linear(self.encoder.code_dim, EMBEDDING), nn.BatchNorm1d(EMBEDDING))
        self.head = CombinedMarginHead(EMBEDDING, classes, preset("arcface"), scale=MARGIN_SCALE)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(loss, number of correctly classified images)"""
        e = self.embed(self.encoder(x)[0])
        loss = F.cross_entropy(self.head(e, labels), labels)
        return loss, (self.head.cosine(e.detach()).argmax(1) == labels).sum()


def pretrain_encoder(cfg: Config, rows: list[dict], out: Path, device: torch.device, progress: bool = True) -> dict:
    """Train an identity classifier for ``cfg.model.pretrain.steps`` steps; write its encoder to ``out``.

    Deterministic for a seed on CPU (batches and augmentation come from StepBatches).  Returns a summary
    (also written beside ``out`` as JSON): loss and accuracy over the first and the last tenth of the steps.
    """
    p = cfg.model.pretrain
    data = SubjectImages(Path(cfg.data.prepared), rows, cfg.data.size, identity_augment())
    if len(data.class_of) < 2:
        raise ValueError("encoder pretraining needs at least two training subjects")
    torch.manual_seed(cfg.train.seed)
    model = IdentityClassifier(cfg.model.width, len(data.class_of)).to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=p.lr, weight_decay=0.05)
    # one-cycle: a short warm-up keeps the unnormalised VGG stack alive (at a constant 1e-3 its ReLUs died)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, p.lr, total_steps=p.steps, pct_start=0.1)
    sampler = StepBatches(len(data), p.batch_size, cfg.train.seed, steps=p.steps, stream=7)
    loader = DataLoader(data, batch_sampler=sampler, num_workers=cfg.data.workers, persistent_workers=False)
    history, t0 = [], time.perf_counter()
    bar = tqdm(loader, total=p.steps, desc="encoder identity pretraining", unit="step", disable=not progress)
    for x, y in bar:
        x, y = x.to(device), y.to(device)
        loss, correct = model(x, y)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"encoder pretraining: non-finite loss at step {len(history)}; lower model.pretrain.lr")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        sched.step()
        history.append((loss.item(), int(correct) / len(y)))
        bar.set_postfix(loss=f"{history[-1][0]:.2f}", acc=f"{history[-1][1]:.2f}")
    ckpt.save(out, vgg_face_dag_state(model.encoder))
    tenth = max(1, len(history) // 10)
    mean = lambda part, k: sum(h[k] for h in part) / len(part)  # noqa: E731
    summary = {
        "steps": len(history), "subjects": len(data.class_of), "images": len(data),
        "loss_first_tenth": mean(history[:tenth], 0), "loss_last_tenth": mean(history[-tenth:], 0),
        "train_accuracy_first_tenth": mean(history[:tenth], 1), "train_accuracy_last_tenth": mean(history[-tenth:], 1),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    atomic_write_text(Path(out).with_suffix(".json"), json.dumps(summary, indent=1))
    return summary
