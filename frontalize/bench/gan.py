"""`gan_step_s`: one full setting1_4-style training step on the CPU configuration, split into phases, without and
with geometry (the frontal warp inside the generator), so their ratio is measured in one run."""
from __future__ import annotations

import statistics
import time

import numpy as np
import torch

from frontalize.bench.registry import benchmark
from frontalize.config import load_config
from frontalize.geometry.pose import Pose, frontal_pose, rotation_from_angles
from frontalize.losses.reconstruction import IdentityLoss, VGGRelu7Features
from frontalize.models.discriminators import build_discriminators
from frontalize.models.generator import Generator
from frontalize.models.vgg import VGGFaceEncoder
from frontalize.training.phases import FrontalizationLoss

PHASES = ("step", "critic_forward", "critic_backward", "generator_forward", "generator_backward")


def step_times(geometry: str, repeats: int, size: int = 128, batch: int = 4) -> tuple[dict, list[str], list[str]]:
    torch.manual_seed(0)
    cfg = load_config("1_4", cpu=True, overrides=["model.discriminators=regions+scales", "loss.symmetry=0.3"])
    g = Generator(size, cfg.model.width, geometry=geometry)
    d = build_discriminators(cfg.model.discriminators, size, cfg.model.d_width, cfg.model.d_norm)
    identity = IdentityLoss(VGGRelu7Features(VGGFaceEncoder(width=cfg.model.width, frozen=True)))
    phases = FrontalizationLoss(cfg.loss, g, d, identity)
    opt_g = torch.optim.Adam(g.parameters(), cfg.optim.lr, betas=(cfg.optim.beta1, cfg.optim.beta2))
    opt_d = torch.optim.Adam(d.parameters(), cfg.optim.lr, betas=(cfg.optim.beta1, cfg.optim.beta2))
    profile, frontal, real = (torch.rand(batch, 3, size, size) * 2 - 1 for _ in range(3))
    pose = None
    if geometry != "none":
        yaws = np.linspace(-60, 60, batch)
        pose = torch.from_numpy(np.stack([Pose(rotation_from_angles(y), frontal_pose(size).translation).as_vector() for y in yaws]))
    timings = {k: [] for k in PHASES}
    for i in range(repeats + 2):
        t0 = time.perf_counter()
        opt_d.zero_grad(set_to_none=True)
        d_loss, _ = phases.critic_phase(profile, real, pose=pose)
        t1 = time.perf_counter()
        d_loss.backward()
        opt_d.step()
        t2 = time.perf_counter()
        opt_g.zero_grad(set_to_none=True)
        g_loss, terms, _ = phases.generator_phase(profile, frontal, pose)
        t3 = time.perf_counter()
        g_loss.backward()
        opt_g.step()
        t4 = time.perf_counter()
        if i >= 2:  # the first steps allocate and warm caches
            for k, v in zip(PHASES, (t4 - t0, t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                timings[k].append(v)
    return {k: statistics.median(v) for k, v in timings.items()}, list(d.names), sorted(terms)


@benchmark("gan_step_s", "setting1_4-style step (5 region + 2 scale critics, WGAN-GP; L1, symmetry, identity), batch 4, 128 px, "
           "2 threads; without and with geometry")
def gan_step(quick: bool) -> dict:
    torch.set_num_threads(2)
    repeats = 3 if quick else 9
    results = {mode: step_times(mode, repeats) for mode in ("none", "pixels", "features")}
    med, critics, terms = results["none"]
    return {
        "gan_step_s": round(med["step"], 3),
        "median_s": {k: round(v, 3) for k, v in med.items()},
        "forward_share": round((med["critic_forward"] + med["generator_forward"]) / med["step"], 3),
        "with_geometry_s": {m: round(r[0]["step"], 3) for m, r in results.items() if m != "none"},
        "geometry_ratio": {m: round(r[0]["step"] / med["step"], 3) for m, r in results.items() if m != "none"},
        "steps_measured": repeats,
        "bar_s": 2.0,
        "geometry_bar_ratio": 1.2,
        "config": {"batch": 4, "size": 128, "critics": critics, "terms": terms},
    }
