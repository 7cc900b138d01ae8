"""CPU benchmarks whose method matters for the figure they report."""
from frontalize.bench import gan


def test_gan_step_benchmark_times_its_settings_in_turns(monkeypatch):
    """Settings are compared step by step in turn, so a slow spell of the machine cannot fall on one of them alone
    (measured one after the other, a ratio once came out at 0.76); every phase is timed, the identity loss apart."""
    order = []
    step = gan.StepSetup.step

    def spy(self):
        order.append(self.setting)
        return step(self)

    monkeypatch.setattr(gan.StepSetup, "step", spy)
    measured = gan.step_times(("setting1_4", "setting1_4r"), repeats=1)
    assert order == ["setting1_4", "setting1_4r"] * 3  # two warm-up rounds, then the measured one
    for setting in ("setting1_4", "setting1_4r"):
        phases = measured["medians"][setting]
        assert set(phases) == set(gan.PHASES)
        assert phases["step"] >= phases["critic_forward"] + phases["generator_forward"] + phases["identity"]
        assert "identity" in measured["setups"][setting].terms and "whole" in measured["setups"][setting].d.names
    assert all(v > 0 for v in measured["medians"]["setting1_4"].values())
    # setting1_4r's CPU configuration trains no critics (loss.gan 0): none is updated, the generator's phases are timed
    refiner = measured["medians"]["setting1_4r"]
    assert refiner["critic_forward"] == refiner["critic_backward"] == 0
    assert all(refiner[k] > 0 for k in ("step", "generator_forward", "generator_backward", "identity"))
    assert measured["setups"]["setting1_4r"].cfg.model.geometry == "refine"
