"""Build the networks a configuration names, and describe them (`frontalize models`)."""
from __future__ import annotations

import torch

from frontalize.config import Config
from frontalize.geometry.pose import frontal_pose
from frontalize.models.discriminators import build_discriminators
from frontalize.models.generator import Generator
from frontalize.models.refiner import WarpRefiner


def build_generator(cfg: Config, encoder_weights: str | None = None) -> Generator | WarpRefiner:
    """``encoder_weights`` (a pretrained encoder written by this run) wins over ``model.encoder_weights``.

    ``model.geometry``: none / pixels / features build the notes' generator (models/generator.py); refine builds the
    warp refiner (models/refiner.py), which has no VGG encoder."""
    m = cfg.model
    if m.geometry == WarpRefiner.geometry:
        return WarpRefiner(cfg.data.size, m.width, tuple(m.front_blend), m.keep_background, tuple(m.fixed_parts))
    if m.fixed_parts:
        raise ValueError(f"model.fixed_parts names parts of the warp refiner (model.geometry=refine), not of "
                         f"model.geometry={m.geometry}; leave it empty")
    weights = encoder_weights or m.encoder_weights
    return Generator(cfg.data.size, m.width, weights, m.freeze_encoder, m.mirror_fusion, m.input_bridge, m.geometry)


def build_critics(cfg: Config):
    return build_discriminators(cfg.model.discriminators, cfg.data.size, cfg.model.d_width, cfg.model.d_norm)


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@torch.no_grad()
def describe(cfg: Config) -> list[tuple[str, int, str]]:
    """(network, parameters, output shape) rows for one image of the configured size."""
    g = build_generator(cfg).eval()
    d = build_critics(cfg).eval()
    x = torch.zeros(1, 3, cfg.data.size, cfg.data.size)
    pose = torch.from_numpy(frontal_pose(cfg.data.size).as_vector())[None] if g.warp is not None else None
    outs = g(x, pose)
    if isinstance(g, WarpRefiner):
        rows = [("generator (warp refiner)", count(g), " + ".join("x".join(map(str, o.shape[1:])) for o in outs)),
                ("  U-Net encoder", count(g.enc), "warped picture + visibility + input"),
                ("  U-Net decoder and heads", count(g.dec) + count(g.to_flow_shading) + count(g.to_fill),
                 "flow, gain, offset at S/4; fill and mask at S")]
        return rows + [(f"critic {n}", count(d.critics[n]), "x".join(map(str, s.shape[1:]))) for n, s in d(outs).items()]
    code, bridges = g.encoder(x)
    rows = [
        ("generator", count(g), " + ".join("x".join(map(str, o.shape[1:])) for o in outs)),
        ("  encoder (VGG-Face layout)", count(g.encoder), f"relu7 {code.shape[1]}; bridges "
         + ", ".join("x".join(map(str, b.shape[1:])) for b in bridges[:4])),
        ("  bottleneck (reshape + transposed convs)", count(g.bottleneck),
         "x".join(map(str, g.bottleneck(code.view(1, g.bottleneck_channels, 4, 4)).shape[1:]))),
    ]
    scores = d(outs)
    for name, s in scores.items():
        rows.append((f"critic {name}", count(d.critics[name]), "x".join(map(str, s.shape[1:]))))
    return rows
