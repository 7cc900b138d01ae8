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


class StepSetup:
    """One setting1_4-style training set-up (generator, critics, losses, optimisers, a fixed batch) for a geometry mode."""

    def __init__(self, geometry: str, size: int = 128, batch: int = 4):
        torch.manual_seed(0)
        self.geometry = geometry
        cfg = load_config("1_4", cpu=True, overrides=["model.discriminators=regions+scales", "loss.symmetry=0.3"])
        g = Generator(size, cfg.model.width, geometry=geometry)
        self.d = build_discriminators(cfg.model.discriminators, size, cfg.model.d_width, cfg.model.d_norm)
        identity = IdentityLoss(VGGRelu7Features(VGGFaceEncoder(width=cfg.model.width, frozen=True)))
        self.phases = FrontalizationLoss(cfg.loss, g, self.d, identity)
        self.opt_g = torch.optim.Adam(g.parameters(), cfg.optim.lr, betas=(cfg.optim.beta1, cfg.optim.beta2))
        self.opt_d = torch.optim.Adam(self.d.parameters(), cfg.optim.lr, betas=(cfg.optim.beta1, cfg.optim.beta2))
        self.profile, self.frontal, self.real = (torch.rand(batch, 3, size, size) * 2 - 1 for _ in range(3))
        self.pose = None
        if geometry != "none":
            yaws = np.linspace(-60, 60, batch)
            self.pose = torch.from_numpy(np.stack([Pose(rotation_from_angles(y), frontal_pose(size).translation).as_vector()
                                                   for y in yaws]))
        self.terms: list[str] = []

    def step(self) -> tuple[float, ...]:
        """One critic and one generator update; the seconds of (step, critic fwd, critic bwd, gen fwd, gen bwd)."""
        t0 = time.perf_counter()
        self.opt_d.zero_grad(set_to_none=True)
        d_loss, _ = self.phases.critic_phase(self.profile, self.real, pose=self.pose)
        t1 = time.perf_counter()
        d_loss.backward()
        self.opt_d.step()
        t2 = time.perf_counter()
        self.opt_g.zero_grad(set_to_none=True)
        g_loss, terms, _ = self.phases.generator_phase(self.profile, self.frontal, self.pose)
        t3 = time.perf_counter()
        g_loss.backward()
        self.opt_g.step()
        t4 = time.perf_counter()
        self.terms = sorted(terms)
        return t4 - t0, t1 - t0, t2 - t1, t3 - t2, t4 - t3


def step_times(modes: tuple[str, ...], repeats: int) -> dict[str, dict]:
    """Median phase times per geometry mode.  The modes take turns step by step, so that a slower spell of the
    machine falls on all of them alike and their ratio stays fair."""
    setups = {m: StepSetup(m) for m in modes}
    timings = {m: {k: [] for k in PHASES} for m in modes}
    for i in range(repeats + 2):
        for m, setup in setups.items():
            times = setup.step()
            if i >= 2:  # the first steps allocate and warm caches
                for k, v in zip(PHASES, times):
                    timings[m][k].append(v)
    return {"medians": {m: {k: statistics.median(v) for k, v in t.items()} for m, t in timings.items()},
            "critics": list(setups[modes[0]].d.names), "terms": setups[modes[0]].terms}


@benchmark("gan_step_s", "setting1_4-style step (5 region + 2 scale critics, WGAN-GP; L1, symmetry, identity), batch 4, 128 px, "
           "2 threads; without and with geometry")
def gan_step(quick: bool) -> dict:
    torch.set_num_threads(2)
    repeats = 3 if quick else 15
    measured = step_times(("none", "pixels", "features"), repeats)
    results, med = measured["medians"], measured["medians"]["none"]
    return {
        "gan_step_s": round(med["step"], 3),
        "median_s": {k: round(v, 3) for k, v in med.items()},
        "forward_share": round((med["critic_forward"] + med["generator_forward"]) / med["step"], 3),
        "with_geometry_s": {m: round(r["step"], 3) for m, r in results.items() if m != "none"},
        "geometry_ratio": {m: round(r["step"] / med["step"], 3) for m, r in results.items() if m != "none"},
        "steps_measured": repeats,
        "interleaved": True,
        "bar_s": 2.0,
        "geometry_bar_ratio": 1.2,
        "config": {"batch": 4, "size": 128, "critics": measured["critics"], "terms": measured["terms"]},
    }
