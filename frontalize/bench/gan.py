"""`gan_step_s`: one full training step of named settings in their CPU configuration, split into phases, the
settings measured in turns so their ratios are fair.

setting1_4 (the notes' generator), setting1_4g (its geometry: the warp's pixels into the VGG encoder) and
setting1_4r (the warp refiner) with their own critics, batch and losses; the identity loss goes through a
recognizer of the shared recognizer's architecture (random weights: the cost is the same).  A step is
``critic_iters`` critic updates and one generator update; examples per second count the generator's inputs.
"""
from __future__ import annotations

import statistics
import time

import numpy as np
import torch

from frontalize.bench.registry import benchmark
from frontalize.config import load_config
from frontalize.geometry.pose import Pose, frontal_pose, rotation_from_angles
from frontalize.losses.reconstruction import IdentityLoss
from frontalize.models.factory import build_critics, build_generator
from frontalize.recognition.iresnet import get_backbone
from frontalize.recognition.recognizer import Recognizer
from frontalize.training.phases import FrontalizationLoss

PHASES = ("step", "critic_forward", "critic_backward", "generator_forward", "generator_backward", "identity")
SETTINGS = ("setting1_4", "setting1_4g", "setting1_4r")


class _TimedIdentity(IdentityLoss):
    """The identity loss, timing its own forward (its backward is part of the generator's)."""

    seconds = 0.0

    def forward(self, output, target):
        t0 = time.perf_counter()
        try:
            return super().forward(output, target)
        finally:
            self.seconds += time.perf_counter() - t0


class StepSetup:
    """One setting's CPU-configuration training set-up (generator, critics, losses, optimisers, a fixed batch)."""

    def __init__(self, setting: str, overrides: tuple[str, ...] = ()):
        torch.manual_seed(0)
        self.setting = setting
        cfg = load_config(setting, cpu=True, overrides=["loss.recognizer=null", *overrides])
        self.cfg, size, batch = cfg, cfg.data.size, cfg.train.batch_size
        g = build_generator(cfg)
        self.d = build_critics(cfg)
        self.identity = _TimedIdentity(Recognizer(get_backbone("tiny")))
        self.phases = FrontalizationLoss(cfg.loss, g, self.d, self.identity)
        o = cfg.optim
        self.opt_g = torch.optim.Adam(g.parameters(), o.lr, betas=(o.beta1, o.beta2))
        self.opt_d = torch.optim.Adam(self.d.parameters(), o.lr, betas=(o.beta1, o.beta2))
        self.profile, self.frontal, self.real = (torch.rand(batch, 3, size, size) * 2 - 1 for _ in range(3))
        self.pose = None
        if cfg.model.geometry != "none":
            yaws = np.linspace(-45, 45, batch)
            self.pose = torch.from_numpy(np.stack([Pose(rotation_from_angles(y), frontal_pose(size).translation).as_vector()
                                                   for y in yaws]))
        self.terms: list[str] = []

    @property
    def examples_per_step(self) -> int:
        return self.cfg.train.batch_size

    def step(self) -> tuple[float, ...]:
        """``critic_iters`` critic updates and one generator update; seconds of each phase in PHASES' order."""
        t0 = time.perf_counter()
        fwd_d = bwd_d = 0.0
        for _ in range(self.cfg.optim.critic_iters if self.cfg.loss.gan else 0):
            a = time.perf_counter()
            self.opt_d.zero_grad(set_to_none=True)
            d_loss, _ = self.phases.critic_phase(self.profile, self.real, pose=self.pose)
            b = time.perf_counter()
            d_loss.backward()
            self.opt_d.step()
            fwd_d, bwd_d = fwd_d + b - a, bwd_d + time.perf_counter() - b
        t2 = time.perf_counter()
        self.identity.seconds = 0.0
        self.opt_g.zero_grad(set_to_none=True)
        g_loss, terms, _ = self.phases.generator_phase(self.profile, self.frontal, self.pose)
        t3 = time.perf_counter()
        g_loss.backward()
        self.opt_g.step()
        t4 = time.perf_counter()
        self.terms = sorted(terms)
        return t4 - t0, fwd_d, bwd_d, t3 - t2 - self.identity.seconds, t4 - t3, self.identity.seconds


def step_times(settings: tuple[str, ...], repeats: int) -> dict[str, dict]:
    """Median phase times per setting.  The settings take turns step by step, so that a slower spell of the machine
    falls on all of them alike and their ratios stay fair."""
    setups = {s: StepSetup(s) for s in settings}
    timings = {s: {k: [] for k in PHASES} for s in settings}
    for i in range(repeats + 2):
        for s, setup in setups.items():
            times = setup.step()
            if i >= 2:  # the first steps allocate and warm caches
                for k, v in zip(PHASES, times):
                    timings[s][k].append(v)
    return {"medians": {s: {k: statistics.median(v) for k, v in t.items()} for s, t in timings.items()},
            "setups": setups}


@benchmark("gan_step_s", "a training step of setting1_4, setting1_4g and setting1_4r in their CPU configurations "
           "(critics, WGAN-GP, L1, SSIM, identity through a tiny recognizer), 128 px, 2 threads, in turns")
def gan_step(quick: bool) -> dict:
    torch.set_num_threads(2)
    repeats = 3 if quick else 15
    measured = step_times(SETTINGS, repeats)
    med, setups = measured["medians"], measured["setups"]
    base = med[SETTINGS[0]]["step"]
    per_setting = {}
    for s, m in med.items():
        setup = setups[s]
        per_setting[s] = {
            "step_s": round(m["step"], 3), "examples_per_s": round(setup.examples_per_step / m["step"], 2),
            "ratio_to_setting1_4": round(m["step"] / base, 3),
            "phases_s": {k: round(v, 3) for k, v in m.items() if k != "step"},
            "batch": setup.cfg.train.batch_size, "critic_iters": setup.cfg.optim.critic_iters,
            "geometry": setup.cfg.model.geometry, "critics": list(setup.d.names), "terms": setup.terms,
            "generator_parameters": sum(p.numel() for p in setup.phases.G.parameters()),
        }
    return {"gan_step_s": round(base, 3), "settings": per_setting, "steps_measured": repeats, "interleaved": True,
            "bar_s": 2.0, "note": "gan_step_s is setting1_4's; each setting's own batch size"}
