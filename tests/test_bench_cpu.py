"""CPU benchmarks whose method matters for the figure they report."""
from frontalize.bench import gan


def test_gan_step_benchmark_times_its_modes_in_turns(monkeypatch):
    """The geometry ratio compares modes measured step by step in turn, so a slow spell of the machine cannot
    fall on one mode alone (measured one mode after the other, the ratio once came out at 0.76)."""
    order = []
    step = gan.StepSetup.step

    def spy(self):
        order.append(self.geometry)
        return step(self)

    monkeypatch.setattr(gan.StepSetup, "step", spy)
    measured = gan.step_times(("none", "pixels"), repeats=1)
    assert order == ["none", "pixels"] * 3  # two warm-up rounds, then the measured one
    for mode in ("none", "pixels"):
        phases = measured["medians"][mode]
        assert set(phases) == set(gan.PHASES) and all(v > 0 for v in phases.values())
        assert phases["step"] >= phases["critic_forward"] + phases["generator_forward"]
    assert "identity" in measured["terms"] and "whole" in measured["critics"]
