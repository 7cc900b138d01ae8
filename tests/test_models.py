"""Generator, critics and losses: shapes, the bottleneck rule, gradient penalty, clipping, symmetry, identity."""
import numpy as np
import pytest
import torch
from torch import nn

from frontalize.cli.main import main as cli
from frontalize.config import load_config
from frontalize.data.template import region_boxes, template_points
from frontalize.losses.adversarial import LSGAN, WGAN, WGANGP, build_adversarial, clip_weights, gradient_penalty
from frontalize.losses.reconstruction import IdentityLoss, l1_multiscale, symmetry_loss
from frontalize.models.discriminators import (
    DiscriminatorSet, PatchDiscriminator, RegionDiscriminators, ScaleDiscriminators, build_discriminators,
)
from frontalize.geometry.pose import Pose, frontal_pose, rotation_from_angles
from frontalize.models.generator import Generator, bottleneck_upsampler
from frontalize.models.refiner import FLOW_RANGE, WarpRefiner
from frontalize.models.vgg import CONV_NAMES, TORCHVISION_CONV_INDEX, VGGFaceEncoder
from frontalize.training.phases import FrontalizationLoss

torch.manual_seed(0)


@pytest.mark.parametrize("size", [64, 128, 224])
def test_generator_outputs_three_scales(size):
    g = Generator(size, width=0.125)
    outs = g(torch.rand(2, 3, size, size) * 2 - 1)
    assert [tuple(o.shape) for o in outs] == [(2, 3, size // 4, size // 4), (2, 3, size // 2, size // 2), (2, 3, size, size)]
    assert all(o.abs().max() <= 1 for o in outs)
    d = ScaleDiscriminators(size, width=8)
    scores = d(outs)
    assert set(scores) == {"scale4", "scale2", "scale1"} and all(s.shape[-1] >= 2 for s in scores.values())


def test_bottleneck_is_transposed_convolutions_not_a_dense_layer():
    up = bottleneck_upsampler(256, 14)
    assert all(isinstance(m, (nn.ConvTranspose2d, nn.ReLU)) for m in up)
    assert up(torch.zeros(1, 256, 4, 4)).shape == (1, 256, 14, 14)
    params = sum(p.numel() for p in up.parameters())
    assert params == (256 * 256 * 4 * 4 + 256) + (256 * 256 * 7 * 7 + 256)
    assert params < 4096 * 14 * 14 * 256 / 40  # the dense layer the notes warn against
    g = Generator(224, width=0.25)
    assert not any(isinstance(m, nn.Linear) for m in g.bottleneck.modules())
    assert not any(isinstance(m, nn.Linear) for name, m in g.named_modules() if not name.startswith("encoder"))


def test_pixel_norm_everywhere_but_first_and_last_decoder_layers():
    from frontalize.models.generator import PixelNorm

    g = Generator(64, width=0.125)
    assert not any(isinstance(m, PixelNorm) for m in g.dec16.modules())  # the first decoder layer
    for block in (g.dec8, g.dec4, g.dec2, g.dec1):
        # conv -> pixel-norm -> ReLU, twice
        assert [type(m).__name__ for m in block] == ["Conv2d", "PixelNorm", "ReLU"] * 2
    # the last layers (to RGB, one per scale): a bare convolution each, then tanh in forward
    assert all(type(m) is nn.Conv2d for m in g.to_rgb)
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        g.to_rgb[2].weight.mul_(50)  # drive the last layer hard: tanh must keep the output inside (-1, 1)
        out = g(x)[-1]
    assert out.abs().max() <= 1 and out.abs().max() > 0.9


class _LinearCritic(DiscriminatorSet):
    def __init__(self, w):
        super().__init__()
        self.names = ("lin",)
        lin = nn.Linear(w.numel(), 1)
        with torch.no_grad():
            lin.weight.copy_(w.view(1, -1))
        self.critics = nn.ModuleDict({"lin": nn.Sequential(nn.Flatten(), lin)})

    def inputs(self, images):
        return {"lin": images[-1]}


def test_gradient_penalty_matches_hand_computation_for_a_linear_critic():
    w = torch.arange(12, dtype=torch.float32) / 20  # ||w|| = sqrt(sum(i^2))/20
    critic = _LinearCritic(w)
    real, fake = [torch.rand(3, 3, 2, 2)], [torch.rand(3, 3, 2, 2)]
    expected = (np.sqrt(sum(i * i for i in range(12))) / 20 - 1) ** 2
    assert gradient_penalty(critic, real, fake).item() == pytest.approx(expected, rel=1e-5)
    with torch.no_grad():
        critic.critics["lin"][1].weight.copy_(torch.full((1, 12), 1 / np.sqrt(12)))
    assert gradient_penalty(critic, real, fake).item() == pytest.approx(0.0, abs=1e-10)  # a 1-Lipschitz critic


def test_gradient_penalty_is_per_sample_and_differentiable():
    class Quadratic(_LinearCritic):  # D(x) = 0.5 ||x||^2: gradient is x itself, so the penalty depends on x_hat
        def __init__(self):
            nn.Module.__init__(self)
            self.names = ("q",)
            self.critics = nn.ModuleDict({"q": _Half()})

        def inputs(self, images):
            return {"q": images[-1]}

    real = [torch.ones(2, 1, 1, 4)]  # ||x|| = 2
    fake = [torch.ones(2, 1, 1, 4)]
    assert gradient_penalty(Quadratic(), real, fake).item() == pytest.approx(1.0)  # (2 - 1)^2 whatever e is


class _Half(nn.Module):
    def forward(self, x):
        return 0.5 * x.pow(2).flatten(1).sum(1)


def test_weight_clipping_keeps_critic_weights_in_range():
    d = PatchDiscriminator(3, 8, 2, "none")
    for p in d.parameters():
        p.data.mul_(100)
    loss = build_adversarial("wgan", clip=0.01)
    clip_weights(d, loss.clip)
    assert max(p.abs().max().item() for p in d.parameters()) <= 0.01
    assert build_adversarial("wgan_gp").clip is None and build_adversarial("wgan_gp").gradient_penalty_weight == 10


def test_adversarial_losses_by_hand():
    real, fake = {"a": torch.tensor([1.0, 3.0])}, {"a": torch.tensor([0.0, 1.0])}
    assert WGAN().critic_loss(real, fake).item() == pytest.approx(0.5 - 2.0)
    assert WGAN().generator_loss(fake).item() == pytest.approx(-0.5)
    assert LSGAN().critic_loss(real, fake).item() == pytest.approx(0.5 * (0 + 4) / 2 + 0.5 * (0 + 1) / 2)
    assert LSGAN().generator_loss(fake).item() == pytest.approx(0.5 * (1 + 0) / 2)
    with pytest.raises(KeyError, match="known: lsgan, wgan, wgan_gp"):
        build_adversarial("hinge")
    assert isinstance(build_adversarial("wgan_gp"), WGANGP)


def test_symmetry_loss_zero_only_for_mirror_images():
    # a face symmetric about the template's midline x = S/2 = 4: columns 1..3 mirror columns 7..5, column 4 is the axis
    half = torch.rand(2, 3, 8, 4) * 2 - 1
    mirror = torch.cat([half, torch.flip(half[..., 1:], dims=[3])], dim=3)
    assert symmetry_loss(mirror).item() == 0.0
    assert symmetry_loss(torch.cat([half, torch.flip(half, dims=[3])], dim=3)).item() > 0.05  # symmetric about 3.5
    assert symmetry_loss(torch.rand(2, 3, 8, 8) * 2 - 1).item() > 0.05
    # on [0, 1] images: a black left half against a white right half differs by 1 everywhere but on the axis (x = 4)
    step = torch.cat([-torch.ones(1, 3, 4, 4), torch.ones(1, 3, 4, 4)], dim=3)
    assert symmetry_loss(step).item() == pytest.approx(6 / 7)


def test_identity_loss_is_cosine_distance_in_0_2():
    feats = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 16))
    loss = IdentityLoss(feats)
    x = torch.rand(4, 3, 8, 8)
    assert loss(x, x).item() == pytest.approx(0.0, abs=1e-6)
    assert 0.0 <= loss(x, torch.rand(4, 3, 8, 8)).item() <= 2.0
    opposite = IdentityLoss(lambda im: im.flatten(1))
    assert opposite(torch.ones(2, 1, 2, 2), -torch.ones(2, 1, 2, 2)).item() == pytest.approx(2.0)
    y = torch.rand(4, 3, 8, 8, requires_grad=True)
    loss(y, x).backward()
    assert y.grad is not None and feats[1].weight.grad is not None  # gradient flows to the output side only


def test_l1_multiscale_compares_each_scale_with_the_downscaled_target():
    t = torch.rand(1, 3, 16, 16)
    outs = [torch.nn.functional.avg_pool2d(t, 4), torch.nn.functional.avg_pool2d(t, 2), t]
    assert l1_multiscale(outs, t).item() == pytest.approx(0.0, abs=1e-6)


def test_region_crops_land_on_the_template_boxes():
    size = 128
    d = RegionDiscriminators(size, width=8)
    ys, xs = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    coords = torch.stack([xs, ys, xs * 0]).float().unsqueeze(0)  # each pixel holds its own (x, y)
    crops = d.inputs([None, None, coords])
    boxes = {"whole": (0, 0, size, size), **region_boxes(size)}
    for name, (x0, y0, x1, y1) in boxes.items():
        c = crops[name]
        assert c.shape[-2:] == (y1 - y0, x1 - x0)
        assert (c[0, 0, 0, 0].item(), c[0, 1, 0, 0].item()) == (x0, y0)
    t = template_points(size)

    def inside(box, p):
        return box[0] <= p[0] < box[2] and box[1] <= p[1] < box[3]

    assert inside(boxes["eyes"], t[0]) and inside(boxes["eyes"], t[1])
    assert inside(boxes["nose"], t[2])
    assert inside(boxes["mouth"], t[3]) and inside(boxes["mouth"], t[4])
    assert all(inside(boxes["face"], p) for p in t)
    scores = d([None, None, torch.rand(2, 3, size, size)])
    assert set(scores) == {"whole", "eyes", "nose", "mouth", "face"}


def test_unknown_discriminator_kind_lists_known():
    with pytest.raises(KeyError, match="regions"):
        build_discriminators("stylegan", 64, 8, "layer")


def _fake_vgg_state(layout: str, generator: torch.Generator) -> dict:
    enc = VGGFaceEncoder(width=1.0)
    state = {}
    for k, name in enumerate(CONV_NAMES):
        conv = enc.conv_layers()[name]
        key = name if layout == "dag" else f"features.{TORCHVISION_CONV_INDEX[k]}"
        state[f"{key}.weight"] = torch.randn(conv.weight.shape, generator=generator)
        state[f"{key}.bias"] = torch.randn(conv.bias.shape, generator=generator)
    for fc, idx in (("fc6", 0), ("fc7", 3)):
        key = fc if layout == "dag" else f"classifier.{idx}"
        lin = getattr(enc, fc)
        state[f"{key}.weight"] = torch.randn(lin.weight.shape, generator=generator)
        state[f"{key}.bias"] = torch.randn(lin.bias.shape, generator=generator)
    state["fc8.weight" if layout == "dag" else "classifier.6.weight"] = torch.randn(2622, 4096, generator=generator)
    return state


@pytest.mark.parametrize("layout", ["dag", "torchvision"])
def test_vgg_face_weights_load_from_both_layouts(tmp_path, layout):
    state = _fake_vgg_state(layout, torch.Generator().manual_seed(1))
    path = tmp_path / f"vgg_{layout}.pth"
    torch.save(state, path)
    enc = VGGFaceEncoder(weights=path)
    conv53 = "conv5_3" if layout == "dag" else "features.28"
    assert torch.equal(enc.conv_layers()["conv5_3"].weight, state[f"{conv53}.weight"])
    fc7 = "fc7" if layout == "dag" else "classifier.3"
    assert torch.equal(enc.fc7.weight, state[f"{fc7}.weight"])
    code, _ = enc(torch.zeros(1, 3, 64, 64))  # fc6 adapts to a 64 px input through 7x7 adaptive pooling
    assert code.shape == (1, 4096)


def test_an_encoder_saved_in_the_dag_layout_loads_back_at_its_width_only(tmp_path):
    from frontalize.models.vgg import vgg_face_dag_state

    torch.manual_seed(3)
    trained = VGGFaceEncoder(width=0.125)
    torch.save(vgg_face_dag_state(trained), tmp_path / "enc.pth")
    loaded = VGGFaceEncoder(width=0.125, weights=tmp_path / "enc.pth")
    assert all(torch.equal(v, trained.state_dict()[k]) for k, v in loaded.state_dict().items())
    assert "conv1_1.weight" in torch.load(tmp_path / "enc.pth", weights_only=True)  # the layout VGG-Face dumps use
    with pytest.raises(ValueError, match="width-0.25 encoder"):
        VGGFaceEncoder(width=0.25, weights=tmp_path / "enc.pth")


def test_missing_vgg_weights_say_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="leave it unset to train from random weights"):
        VGGFaceEncoder(weights=tmp_path / "nope.pth")


def test_phases_produce_every_term_and_gradients():
    cfg = load_config("1_4", cpu=True, overrides=["data.size=64", "loss.symmetry=0.3", "loss.tv=0.1"])
    g = Generator(64, width=0.125)
    d = build_discriminators("regions+scales", 64, 8, "layer")
    ident = IdentityLoss(lambda im: im.flatten(1))
    phases = FrontalizationLoss(cfg.loss, g, d, ident)
    profile, frontal = torch.rand(2, 3, 64, 64) * 2 - 1, torch.rand(2, 3, 64, 64) * 2 - 1
    d_total, d_terms = phases.critic_phase(profile, frontal)
    assert {"critic_adv", "gradient_penalty", "critic_real", "critic_fake"} <= set(d_terms)
    d_total.backward()
    assert all(p.grad is not None for p in d.parameters())
    g_total, g_terms, outs = phases.generator_phase(profile, frontal)
    assert set(g_terms) == {"gen_adv", "l1", "symmetry", "identity", "tv", "l2"}
    g_total.backward()
    assert g.to_rgb[2].weight.grad.abs().sum() > 0
    _, no_target_terms, _ = phases.generator_phase(profile, None)
    assert "l1" not in no_target_terms and "identity" in no_target_terms


def test_models_command_prints_the_five_region_critics(capsys):
    assert cli(["models", "--setting", "1_4", "--cpu", "data.size=64"]) == 0
    out = capsys.readouterr().out
    for name in ("critic whole", "critic eyes", "critic nose", "critic mouth", "critic face", "bottleneck"):
        assert name in out
    assert cli(["models", "--setting", "9_9"]) == 2


@pytest.mark.parametrize("input_bridge", [False, True])
def test_input_bridge_carries_the_picture_to_the_full_size_output(input_bridge):
    torch.manual_seed(0)
    g = Generator(64, width=0.125, input_bridge=input_bridge).eval()
    a, b = torch.rand(1, 3, 64, 64) * 2 - 1, torch.rand(1, 3, 64, 64) * 2 - 1
    fixed = g.encode(a)
    g.encode = lambda x: fixed  # same encoder codes and bridges whatever the input
    with torch.no_grad():
        out_a, out_b = g(a), g(b)
    assert torch.equal(out_a[0], out_b[0]) and torch.equal(out_a[1], out_b[1])  # coarse scales never see it
    assert torch.equal(out_a[2], out_b[2]) != input_bridge


def _poses(yaws, size):
    return torch.from_numpy(np.stack([Pose(rotation_from_angles(y), frontal_pose(size).translation).as_vector() for y in yaws]))


def test_the_warp_refiner_starts_from_the_warp_and_every_part_learns():
    """geometry=refine: at initialisation the output is the geometric frontalization on the reference face (flow 0,
    gain 1, offset 0, the fill's mask near 0 there); one loss reaches every head (flow, shading, fill and mask)."""
    torch.manual_seed(0)
    g = WarpRefiner(64, width=0.25)
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    pose = _poses([30, -45], 64)
    parts = g.parts(x, pose)
    warped = g.warp(x, pose).picture
    assert [o.shape[-1] for o in parts["outputs"]] == [16, 32, 64]
    assert torch.equal(parts["flow"], torch.zeros_like(parts["flow"])) and torch.equal(parts["gain"], torch.ones_like(parts["gain"]))
    face = g.inner_face[0, 0] > 0
    assert 0.2 < face.float().mean() < 0.8
    assert (parts["outputs"][-1] - warped)[..., face].abs().max() < 0.02  # on the face: 1 - sigmoid(-4) of the warp
    assert torch.allclose(parts["mask"][..., ~face], torch.tensor(0.5))  # beyond it the fill starts half in
    target = torch.rand(2, 3, 64, 64) * 2 - 1
    (parts["outputs"][-1] - target).abs().mean().backward()
    for head in (g.to_flow_shading, g.to_fill):
        assert head.weight.grad.abs().sum() > 0
    assert g.to_flow_shading.weight.grad[:2].abs().sum() > 0  # the flow's own channels
    assert all(p.grad is not None for p in g.enc.parameters())


def test_the_refiners_flow_moves_the_sampling_grid():
    """A constant flow shifts where the warp samples the input: 2 px of flow read a horizontal ramp 2 px further."""
    g = WarpRefiner(64, width=0.25)
    x = torch.linspace(-1, 1, 64).view(1, 1, 1, 64).expand(1, 3, 64, 64).contiguous()  # a horizontal ramp
    pose = _poses([0], 64)
    with torch.no_grad():
        g.to_flow_shading.bias[0] = float(torch.atanh(torch.tensor(2 / 32 / FLOW_RANGE)))  # 2 px (grid units: 2 / S)
        parts = g.parts(x, pose)
        warped = g.warp(x, pose)
    shift = (parts["corrected"] - warped.picture)[0, 0][warped.visible[0, 0] > 0.99]
    assert float(shift.median()) == pytest.approx(2 * (2 / 63), rel=0.05)  # 2 px of the ramp


def test_the_refiner_gives_back_the_warp_near_the_front_and_its_own_output_beyond():
    """model.front_blend: below 10 degrees of fitted yaw the output is the warp (at exactly the frontal pose the
    aligned input itself), beyond 30 the refiner's; between, a smooth blend that grows with |yaw|."""
    torch.manual_seed(0)
    size = 64
    refiner = WarpRefiner(size, 0.25, (10.0, 30.0)).eval()
    for head in (refiner.to_flow_shading, refiner.to_fill):  # a refiner that changes its input everywhere
        torch.nn.init.normal_(head.weight, std=0.05)
    x = torch.rand(1, 3, size, size) * 2 - 1

    def run(yaw):
        pose = _poses([yaw], size)
        with torch.no_grad():
            parts = refiner.parts(x, pose)
        return parts["outputs"][-1], parts["warped"], refiner.refinement_weight(pose)[0]

    out, warped, weight = run(0.0)
    assert weight == 0 and torch.equal(out, warped)
    face = torch.from_numpy(refiner.warp.face.view(size, size).numpy())
    assert (out - x)[0][:, face].abs().max() < 1e-4  # at the frontal pose, the aligned input
    for yaw in (-5.0, 8.0):
        out, warped, _ = run(yaw)
        assert torch.equal(out, warped)
    weights = [float(run(yaw)[2]) for yaw in (12.0, 20.0, 28.0)]
    assert 0 < weights[0] < weights[1] < weights[2] < 1
    out, warped, weight = run(-45.0)
    assert weight == 1 and (out - warped).abs().mean() > 0.01
    plain = WarpRefiner(size, 0.25, ()).eval()
    pose = torch.from_numpy(frontal_pose(size).as_vector())[None]
    assert float(plain.refinement_weight(pose)[0]) == 1.0  # the blend switched off
    with pytest.raises(ValueError, match="front_blend"):
        WarpRefiner(size, 0.25, (30.0, 10.0))


def test_the_default_refiner_gives_back_the_warp_up_to_30_degrees():
    """The default band (config.py, issue 28): every fitted yaw below 30 degrees gets the warp alone, so the
    +-15 and +-30 columns cannot fall below the warp-only row; 45 degrees and beyond get the refiner's output."""
    from frontalize.models.factory import build_generator

    cfg = load_config("setting1_4r", cpu=True)  # the demo's setting
    cfg.data.size = 64
    refiner = build_generator(cfg).eval()
    weights = {}
    for yaw in (0.0, 15.0, -29.0, 45.0, -60.0):
        pose = _poses([yaw], 64)
        weights[yaw] = float(refiner.refinement_weight(pose)[0])
    assert weights == {0.0: 0.0, 15.0: 0.0, -29.0: 0.0, 45.0: 1.0, -60.0: 1.0}


def test_keep_background_leaves_the_photos_scene_beyond_the_head_to_the_photo():
    """model.keep_background: beyond the reference head, wherever the warp shows the input, the output is the input's
    own (flow-corrected) pixels, whatever the fill would paint; without it a trained fill repaints the scene."""
    torch.manual_seed(0)
    size = 64
    pose = _poses([50.0], size)
    x = torch.rand(1, 3, size, size) * 2 - 1
    outputs = {}
    for keep in (True, False):
        torch.manual_seed(1)
        refiner = WarpRefiner(size, 0.25, (30.0, 45.0), keep_background=keep).eval()
        torch.nn.init.normal_(refiner.to_fill.weight, std=0.5)  # a fill that paints everywhere
        with torch.no_grad():
            parts = refiner.parts(x, pose)
            known = refiner.warp(x, pose).known
        scene = ((1 - refiner.face) * known)[0, 0] > 0.999
        assert int(scene.sum()) > 100  # the test looks at something
        outputs[keep] = (parts["outputs"][-1][0][:, scene], parts["corrected"][0][:, scene])
    kept, corrected = outputs[True]
    assert torch.allclose(kept, corrected, atol=1e-5)
    painted, corrected = outputs[False]
    assert (painted - corrected).abs().mean() > 0.05


def test_each_learned_part_of_the_refiner_can_be_switched_off_and_all_off_is_the_warp():
    """bench/refiner_parts.py's switches: with every learned part off the refiner gives back the warp; the flow and
    the shading change the whole face, the face fill only the face, the fill beyond only what lies beyond it."""
    torch.manual_seed(0)
    size = 64
    refiner = WarpRefiner(size, 0.25).eval()  # no band: the refiner acts at every yaw
    for head in (refiner.to_flow_shading, refiner.to_fill):  # heads that do something everywhere
        torch.nn.init.normal_(head.weight, std=0.3)
        torch.nn.init.normal_(head.bias, std=0.3)
    x = torch.rand(1, 3, size, size) * 2 - 1
    pose = _poses([50.0], size)

    def out(*off):
        refiner.switched_off = frozenset(off)
        with torch.no_grad():
            return refiner(x, pose)[-1]

    full = out()
    face = refiner.inner_face.bool().expand_as(full)
    torch.testing.assert_close(out("flow", "shading", "face fill", "fill beyond"), refiner.warp(x, pose).picture,
                               atol=1e-5, rtol=0)
    for part in ("flow", "shading"):
        assert (out(part) - full)[face].abs().mean() > 1e-3, part
    no_face_fill, no_fill_beyond = out("face fill"), out("fill beyond")
    assert (no_face_fill - full)[face].abs().mean() > 1e-3 and torch.equal(no_face_fill[~face], full[~face])
    assert (no_fill_beyond - full)[~face].abs().mean() > 1e-3 and torch.equal(no_fill_beyond[face], full[face])
    with pytest.raises(ValueError, match="no learned part"):
        out("mirror")


def test_fixed_parts_never_learn_and_travel_with_the_checkpoints_config():
    """model.fixed_parts: the named parts stay at their start through a training step (no flow, gain 1, offset 0),
    and a generator rebuilt from the saved configuration holds them fixed too; the other parts still learn."""
    from frontalize.config import from_yaml, to_yaml
    from frontalize.models.factory import build_generator

    torch.manual_seed(0)
    cfg = load_config("setting1_4r", cpu=True, overrides=["data.size=64", "model.front_blend=[]",
                                                          "model.fixed_parts=[flow,shading]"])
    refiner = build_generator(cfg)
    x, pose = torch.rand(2, 3, 64, 64) * 2 - 1, _poses([50.0, -60.0], 64)
    target = torch.rand(2, 3, 64, 64) * 2 - 1
    fill_before = refiner.to_fill.weight.detach().clone()
    optimizer = torch.optim.SGD(refiner.parameters(), lr=1.0)
    # as if the flow and the shading had learned something
    torch.nn.init.normal_(refiner.to_flow_shading.weight, std=0.3)
    torch.nn.init.normal_(refiner.to_flow_shading.bias, std=0.3)
    (refiner(x, pose)[-1] - target).abs().mean().backward()
    optimizer.step()
    assert not torch.equal(refiner.to_fill.weight, fill_before)  # the fill learned
    rebuilt = build_generator(from_yaml(to_yaml(cfg)))
    rebuilt.load_state_dict(refiner.state_dict())
    for model in (refiner, rebuilt):
        with torch.no_grad():
            parts = model.eval().parts(x, pose)
        assert torch.equal(parts["flow"], torch.zeros_like(parts["flow"]))
        assert torch.equal(parts["gain"], torch.ones_like(parts["gain"]))
        assert torch.equal(parts["offset"], torch.zeros_like(parts["offset"]))
        torch.testing.assert_close(parts["shaded"], parts["corrected"], atol=1e-6, rtol=0)
    cfg.model.fixed_parts = ["mirror"]
    with pytest.raises(ValueError, match="fixed_parts / switched_off name no learned part"):
        build_generator(cfg)
    cfg.model.fixed_parts, cfg.model.geometry = ["flow"], "pixels"  # the notes' generator has no such parts
    with pytest.raises(ValueError, match="parts of the warp refiner"):
        build_generator(cfg)


def test_reports_say_which_refiner_parts_learned():
    from frontalize.models.refiner import learned_parts_note

    assert learned_parts_note([]) == "learned parts: flow, shading, face fill, fill beyond"
    assert learned_parts_note(["face fill", "flow", "shading"]) == (
        "learned parts: fill beyond; held at the warp: flow, shading, face fill")
