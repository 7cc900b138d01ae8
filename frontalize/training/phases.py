"""The two phases of a frontalization training step, as one loss object (after stylegan2-ada's loss).

critic phase:    G(profile) without gradients; critics on real frontal faces (unpaired with the
                 profile batch, per the notes) and on the fakes; adversarial loss + gradient penalty.
generator phase: G(profile); adversarial loss through the critics, L1 to the frontal target at every
                 scale, SSIM to it (whole crop and face box), left-right symmetry, identity (cosine of L2-normalised features), total
                 variation, L2 weight regularisation.  Each term is returned by name so the trainer
                 can log it and stop on the first non-finite one.
"""
from __future__ import annotations

import torch

from frontalize.config import LossConfig
from frontalize.losses.adversarial import build_adversarial, gradient_penalty
from frontalize.data.template import region_boxes
from frontalize.losses.reconstruction import (
    IdentityLoss, l1_multiscale, l2_regularization, ssim_loss, symmetry_loss, total_variation,
)
from frontalize.models.discriminators import downscale_pyramid


class FrontalizationLoss:
    def __init__(self, cfg: LossConfig, generator, critics, identity: IdentityLoss | None = None):
        self.cfg = cfg
        self.G = generator
        self.D = critics
        self.identity = identity
        self.adversarial = build_adversarial(cfg.adversarial, clip=cfg.clip, gp_weight=cfg.gp)

    def critic_phase(self, profile: torch.Tensor, real_frontal: torch.Tensor, float32_penalty: bool = False,
                     pose: torch.Tensor | None = None) -> tuple[torch.Tensor, dict]:
        """``float32_penalty``: compute the gradient penalty outside autocast.  Under float16 its inner gradients
        (taken without the loss scale) underflow or, scaled, overflow; float32 needs neither.
        ``pose``: the profiles' poses, for a generator with geometry."""
        with torch.no_grad():
            fakes = self.G(profile, pose)
        real = downscale_pyramid(real_frontal)
        d_real, d_fake = self.D(real), self.D(fakes)
        terms = {"critic_adv": self.adversarial.critic_loss(d_real, d_fake)}
        total = terms["critic_adv"]
        if self.adversarial.gradient_penalty_weight:
            if float32_penalty:
                with torch.autocast(profile.device.type, enabled=False):
                    terms["gradient_penalty"] = gradient_penalty(self.D, [r.float() for r in real], [f.float() for f in fakes])
            else:
                terms["gradient_penalty"] = gradient_penalty(self.D, real, fakes)
            total = total + self.adversarial.gradient_penalty_weight * terms["gradient_penalty"]
        stats = {
            "critic_real": sum(s.mean() for s in d_real.values()).detach() / len(d_real),
            "critic_fake": sum(s.mean() for s in d_fake.values()).detach() / len(d_fake),
        }
        return total, {**terms, **stats}

    def generator_phase(self, profile: torch.Tensor, target: torch.Tensor | None, pose: torch.Tensor | None = None
                        ) -> tuple[torch.Tensor, dict, list]:
        c = self.cfg
        outs = self.G(profile, pose)
        terms, weights = {}, {}
        if c.gan:
            terms["gen_adv"], weights["gen_adv"] = self.adversarial.generator_loss(self.D(outs)), c.gan
        if target is not None and c.l1:
            terms["l1"], weights["l1"] = l1_multiscale(outs, target), c.l1
        if target is not None and c.ssim:
            face = region_boxes(outs[-1].shape[-1])["face"]
            terms["ssim"], weights["ssim"] = ssim_loss(outs[-1], target, face), c.ssim
        if c.symmetry:
            terms["symmetry"], weights["symmetry"] = symmetry_loss(outs[-1]), c.symmetry
        if self.identity is not None and c.feature:
            # without a frontal target (setting1_5) the identity to keep is the input's own
            reference = target if target is not None else profile
            terms["identity"], weights["identity"] = self.identity(outs[-1], reference), c.feature
        if c.tv:
            terms["tv"], weights["tv"] = total_variation(outs[-1]), c.tv
        if c.l2:
            terms["l2"], weights["l2"] = l2_regularization(self.G), c.l2
        total = sum(weights[k] * v for k, v in terms.items())
        return total, terms, outs
