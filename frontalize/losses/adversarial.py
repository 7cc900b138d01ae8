"""Adversarial losses: WGAN (weight clipping), WGAN-GP (gradient penalty), LSGAN.

Each loss sums over the critics of a set (dicts of critic name -> patch scores).
"""
from __future__ import annotations

import torch
from torch import nn

from frontalize.registry import Registry

ADVERSARIAL_LOSSES = Registry("adversarial loss")


class AdversarialLoss:
    gradient_penalty_weight = 0.0
    clip = None

    def critic_loss(self, real: dict, fake: dict) -> torch.Tensor:
        raise NotImplementedError

    def generator_loss(self, fake: dict) -> torch.Tensor:
        raise NotImplementedError


@ADVERSARIAL_LOSSES.register("wgan")
class WGAN(AdversarialLoss):
    """Wasserstein loss; the critic's weights are clipped to [-c, c] after each critic step."""

    def __init__(self, clip: float = 0.01, **_):
        self.clip = clip

    def critic_loss(self, real, fake):
        return sum(fake[n].mean() - real[n].mean() for n in real)

    def generator_loss(self, fake):
        return sum(-fake[n].mean() for n in fake)


@ADVERSARIAL_LOSSES.register("wgan_gp")
class WGANGP(WGAN):
    """Wasserstein loss with a gradient penalty on random interpolates (weight 10), no clipping."""

    def __init__(self, gp_weight: float = 10.0, **_):
        self.clip = None
        self.gradient_penalty_weight = gp_weight


@ADVERSARIAL_LOSSES.register("lsgan")
class LSGAN(AdversarialLoss):
    def __init__(self, **_):
        pass

    def critic_loss(self, real, fake):
        return sum(0.5 * ((real[n] - 1) ** 2).mean() + 0.5 * (fake[n] ** 2).mean() for n in real)

    def generator_loss(self, fake):
        return sum(0.5 * ((fake[n] - 1) ** 2).mean() for n in fake)


def gradient_penalty(critics, real: list[torch.Tensor], fake: list[torch.Tensor]) -> torch.Tensor:
    """Sum over critics of mean_i (||grad D_n(x_hat_i)||_2 - 1)^2, x_hat = e * real + (1 - e) * fake.

    ``critics`` is a DiscriminatorSet; e ~ U(0, 1) is drawn per sample and shared by every scale of
    that sample.  Each critic's input is made a leaf of its own, so one backward pass gives every
    critic's gradient with respect to its own input (each critic is its own Lipschitz function).
    """
    eps = torch.rand(real[0].shape[0], 1, 1, 1, device=real[0].device, dtype=real[0].dtype)
    mixed = [eps * r + (1 - eps) * f.detach() for r, f in zip(real, fake)]
    leaves = {n: x.detach().requires_grad_(True) for n, x in critics.inputs(mixed).items()}
    scores = [critics.critics[n](x) for n, x in leaves.items()]
    grads = torch.autograd.grad(sum(s.sum() for s in scores), list(leaves.values()), create_graph=True)
    return sum(((g.flatten(1).norm(2, dim=1) - 1) ** 2).mean() for g in grads)


@torch.no_grad()
def clip_weights(module: nn.Module, c: float) -> None:
    for p in module.parameters():
        p.clamp_(-c, c)


def build_adversarial(name: str, **kwargs) -> AdversarialLoss:
    return ADVERSARIAL_LOSSES.get(name)(**kwargs)
