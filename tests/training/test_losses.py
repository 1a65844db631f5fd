from pathlib import Path

import pytest
import torch
import yaml

from ampcapture.core.config import defaults
from ampcapture.core.errors import ConfigError
from ampcapture.training.losses import LossSettings, TrainingLoss, dc_loss, esr, multi_resolution_stft, pre_emphasis


def test_esr_is_zero_for_a_perfect_model_and_one_for_silence():
    y = torch.randn(4, 1000)
    assert esr(y, y) == 0
    assert esr(torch.zeros_like(y), y) == pytest.approx(1.0)
    assert esr(0.9 * y, y) == pytest.approx(0.01, rel=1e-4)


def test_pre_emphasis_penalizes_high_frequency_errors_more():
    t = torch.arange(48000.0) / 48000
    target = torch.sin(2 * torch.pi * 100 * t)[None]
    low_error = target + 0.01 * torch.sin(2 * torch.pi * 100 * t)
    high_error = target + 0.01 * torch.sin(2 * torch.pi * 8000 * t)
    assert esr(low_error, target).item() == pytest.approx(esr(high_error, target).item(), rel=1e-2)
    emph = lambda p: esr(pre_emphasis(p, 0.85), pre_emphasis(target, 0.85))  # noqa: E731
    assert emph(high_error) > 10 * emph(low_error)


def test_dc_loss_sees_an_offset_and_stft_loss_sees_a_spectral_difference():
    y = torch.randn(2, 8192)
    assert dc_loss(y, y) == 0 and dc_loss(y + 0.1, y) > 0
    assert multi_resolution_stft(y, y, [256, 1024]) == pytest.approx(0.0, abs=1e-6)
    assert multi_resolution_stft(torch.roll(y, 1, -1) * 0.5, y, [256, 1024]) > 0.1


def test_weighted_sum_matches_its_terms_and_has_gradients():
    settings = defaults(LossSettings, esr=0.75, pre_emphasis=0.85, dc=0.25, mrstft=0.5, mrstft_fft_sizes=[256])
    target = torch.randn(2, 4096)
    pred = (0.5 * target).requires_grad_()
    total, terms = TrainingLoss(settings)(pred, target)
    assert set(terms) == {"esr_pre_emphasis", "dc", "mrstft"}
    assert total.item() == pytest.approx((0.75 * terms["esr_pre_emphasis"] + 0.25 * terms["dc"] + 0.5 * terms["mrstft"]).item())
    total.backward()
    assert pred.grad is not None and torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0


@pytest.mark.parametrize("bad", [dict(esr=-1.0), dict(esr=0.0), dict(pre_emphasis=1.5), dict(mrstft=1.0, mrstft_fft_sizes=[])])
def test_nonsense_loss_config_is_refused(bad):
    with pytest.raises(ConfigError):
        defaults(LossSettings, **bad)


@pytest.mark.parametrize("preset", sorted((Path(__file__).resolve().parents[2] / "conf" / "loss").glob("*.yaml")), ids=lambda p: p.stem)
def test_loss_presets_are_valid(preset):
    TrainingLoss(defaults(LossSettings, **yaml.safe_load(preset.read_text())))


def test_a_region_of_several_spans_is_scored_as_one_recording():
    """Interleaved validation and test blocks (data.split.blocks): error energy over target
    energy summed over the spans, so a quiet block counts for its energy, not as much as a loud one."""
    from conftest import TINY_WAVENET, amp_module

    torch.manual_seed(0)  # the weights too: whatever ran before in this worker
    module = amp_module("WaveNet", TINY_WAVENET["config"])
    # a near-silent second span: the model's own output there is an error far above its target's energy
    spans = [(torch.randn(1, module.pre_roll + n), scale * torch.randn(1, n)) for n, scale in ((300, 1.0), (500, 1e-4))]
    with torch.no_grad():
        pooled = module.size_esrs(spans)[-1]
        outputs = [module.evaluate(x) for x, _ in spans]
        whole = esr(torch.cat(outputs, 1), torch.cat([y for _, y in spans], 1))
        per_span = [esr(out, y) for out, (_, y) in zip(outputs, spans)]
        assert float(pooled) == pytest.approx(float(whole), rel=1e-5)
        assert float(pooled) != pytest.approx(float(sum(per_span) / 2), rel=0.1)
        assert float(module.size_esrs(spans[:1])[-1]) == pytest.approx(float(per_span[0]), rel=1e-5)
