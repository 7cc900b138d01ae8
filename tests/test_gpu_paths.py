"""The CUDA code paths, exercised on the CPU where the logic allows: mixed precision (bfloat16, float16 with two
GradScalers and a scaled gradient penalty), the step the GPU benchmarks time, and their skip without a GPU."""
import pytest
import torch

from frontalize.runs.precision import Precision, choose_precision


def test_precision_policy():
    cuda, cpu = torch.device("cuda"), torch.device("cpu")
    bf16 = choose_precision(cuda, True, "bfloat16")
    assert bf16.dtype == torch.bfloat16 and not bf16.needs_scaler  # bf16 keeps fp32's range: no loss scaling
    fp16 = choose_precision(cuda, True, "float16")
    assert fp16.dtype == torch.float16 and fp16.needs_scaler
    assert choose_precision(cuda, False, "bfloat16").dtype is None
    assert choose_precision(cpu, True, "bfloat16").dtype is None  # CPU runs stay in float32
    with pytest.raises(ValueError, match="bfloat16, float16"):
        choose_precision(cuda, True, "float8")


@pytest.mark.slow  # float16 convolutions are emulated on the CPU: slow
def test_under_float16_the_gradient_penalty_is_computed_in_float32():
    """float16 inner gradients underflow (unscaled) or overflow (scaled by the GradScaler): the penalty leaves autocast."""
    from frontalize.config import LossConfig
    from frontalize.models.discriminators import build_discriminators
    from frontalize.models.generator import Generator
    from frontalize.training.phases import FrontalizationLoss

    torch.manual_seed(0)
    phases = FrontalizationLoss(LossConfig(adversarial="wgan_gp"), Generator(64, width=0.125), build_discriminators("regions", 64, 8, "layer"))
    profile, real = torch.rand(2, 3, 64, 64) * 2 - 1, torch.rand(2, 3, 64, 64) * 2 - 1
    torch.manual_seed(1)
    _, plain = phases.critic_phase(profile, real)
    with torch.autocast("cpu", dtype=torch.float16):
        torch.manual_seed(1)
        _, mixed = phases.critic_phase(profile, real, float32_penalty=True)
        torch.manual_seed(1)
        _, half = phases.critic_phase(profile, real)
    assert mixed["gradient_penalty"].dtype == torch.float32
    assert mixed["gradient_penalty"].item() == pytest.approx(plain["gradient_penalty"].item(), rel=0.05)
    assert half["critic_adv"].dtype == torch.float16  # the rest of the phase does run in float16


@pytest.fixture(scope="module")
def cpu_trainer_factory(prepared_tiny, tmp_path_factory):
    from frontalize.bench.gpu import paper_trainer

    out, _ = prepared_tiny
    runs = tmp_path_factory.mktemp("gpu_paths")

    def make(mode: str):
        return paper_trainer(out, runs, torch.device("cpu"), mode, size=64, width=0.125,
                             extra=["model.d_width=8", "data.workers=0"])

    return make


@pytest.mark.slow  # the CPU's autocast is slow, in float16 very slow (a minute or two)
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_mixed_precision_training_steps(cpu_trainer_factory, dtype):
    from frontalize.bench.gpu import time_steps

    trainer = cpu_trainer_factory("bf16")
    trainer.set_precision(Precision("cpu", dtype))  # what CUDA runs use, here on the CPU's autocast
    assert trainer.scaler_g.is_enabled() == trainer.scaler_d.is_enabled() == (dtype == torch.float16)
    before = {k: v.clone() for k, v in trainer.G.state_dict().items()}
    # float16: the scalers start at 2^10 and halve on each overflow (its steps are skipped) until the gradients fit
    row = time_steps(trainer, batch=2, warmup=3, steps=3)
    assert row["losses_finite"] and trainer.step == 6
    assert any(not torch.equal(before[k], v) for k, v in trainer.G.state_dict().items())  # the generator learned
    if dtype == torch.float16:
        # two optimisers, two scalers: each has stepped and kept a finite scale of its own
        assert set(row["loss_scales"]) == {"critic", "generator"} and all(0 < s < float("inf") for s in row["loss_scales"].values())
        state = trainer.state()
        assert state["scaler_d"]["scale"] == trainer.scaler_d.get_scale() and state["scaler_g"]["scale"] > 0
        again = cpu_trainer_factory("bf16")
        again.set_precision(Precision("cpu", dtype))
        again.load_state(state)
        assert again.scaler_d.get_scale() == trainer.scaler_d.get_scale() and again.step == 6
        assert trainer.scaler_g.get_scale() < 2.0**10  # it did back off from its initial scale


@pytest.mark.parametrize("mode", ["fp32", "channels_last"])
def test_the_benchmarked_step_counts_flops_and_runs_on_cpu(mode, tmp_path, monkeypatch):
    from frontalize.bench import gpu

    monkeypatch.setattr(gpu, "CACHE", tmp_path)  # prepares `tiny` here at 64 px
    figures = gpu.gan_mode_figures(torch.device("cpu"), mode, size=64, width=0.125, quick=True)
    row = figures["rows"]["batch_5"]
    assert row["losses_finite"] and row["flops_per_step"] == 5 * figures["flops_per_image"] > 10**8
    assert row["tflops_per_s"] > 0 and 0 < row["mfu_vs_bf16_peak"] < 1
    assert figures["images_per_s"] == row["images_per_s"] > 0


def test_gpu_benchmarks_say_they_are_skipped_without_a_gpu(monkeypatch):
    from frontalize.bench import gpu
    from frontalize.bench.runner import _headline

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    from frontalize.bench.registry import BENCHMARKS

    names = [n for n in BENCHMARKS if n.startswith("gpu_")]
    assert len(names) == len(gpu.MODES) + 2
    for name in names:
        fn, _ = BENCHMARKS[name]
        assert fn(True) == {name: None, "skipped": gpu.NO_GPU}
        assert _headline(name, fn(True)).split() == [name, "skipped:", *gpu.NO_GPU.split()]


def test_recognizer_trains_on_synthetic_faces(tmp_path):
    from frontalize.bench.gpu import recognizer_figures

    r = recognizer_figures(torch.device("cpu"), arch="tiny", batch=8, steps=2, workers=0)
    assert len(r["images_per_s_by_epoch"]) == 2 and r["images_per_s"] > 0


def test_synthetic_faces_are_the_same_in_every_worker_and_run():
    from frontalize.recognition.data import SyntheticFaces

    a, b = SyntheticFaces(16, 4, seed=3), SyntheticFaces(16, 4, seed=3)
    assert torch.equal(a[5][0], b[5][0]) and a[5][1] == b[5][1] and not torch.equal(a[5][0], a[6][0])
    assert a[5][0].shape == (3, 112, 112) and set(a.labels) <= set(range(4))
