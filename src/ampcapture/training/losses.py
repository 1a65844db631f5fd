"""Training losses. Validation always reports plain ESR (the figure NAM users compare);
what the model is trained on is a weighted sum configured in conf/loss/."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from ampcapture.core.errors import ConfigError

EPS = 1e-10


def esr(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Error-to-signal ratio: energy of the error over energy of the target."""
    return torch.mean((target - pred) ** 2) / (torch.mean(target**2) + EPS)


def pre_emphasis(x: torch.Tensor, coefficient: float) -> torch.Tensor:
    """First-order high-pass FIR 1 - c·z⁻¹ (Wright et al.): weights the highs the ear notices."""
    return x[..., 1:] - coefficient * x[..., :-1]


def dc_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (target.mean(-1) - pred.mean(-1)).pow(2).mean() / (torch.mean(target**2) + EPS)


def multi_resolution_stft(pred: torch.Tensor, target: torch.Tensor, fft_sizes: list[int]) -> torch.Tensor:
    """Spectral convergence plus log-magnitude L1, averaged over FFT sizes (hop = size / 4)."""
    total = pred.new_zeros(())
    for size in fft_sizes:
        window = torch.hann_window(size, device=pred.device, dtype=pred.dtype)
        spec = [torch.stft(s, size, size // 4, window=window, return_complex=True).abs() for s in (pred, target)]
        convergence = torch.linalg.norm(spec[1] - spec[0]) / (torch.linalg.norm(spec[1]) + EPS)
        log_mag = torch.mean(torch.abs(torch.log(spec[1] + 1e-7) - torch.log(spec[0] + 1e-7)))
        total = total + convergence + log_mag
    return total / len(fft_sizes)


@dataclass
class LossSettings:
    SECTION: ClassVar[str] = "loss"

    esr: float
    pre_emphasis: float | None
    mse: float
    dc: float
    mrstft: float
    mrstft_fft_sizes: list[int]

    def __post_init__(self) -> None:
        weights = {"esr": self.esr, "mse": self.mse, "dc": self.dc, "mrstft": self.mrstft}
        if any(w < 0 for w in weights.values()) or not any(w > 0 for w in weights.values()):
            raise ConfigError("loss", f"weights {weights} must be >= 0 with at least one > 0", "see conf/loss/ for examples")
        if self.pre_emphasis is not None and not 0 <= self.pre_emphasis < 1:
            raise ConfigError("loss.pre_emphasis", f"coefficient {self.pre_emphasis} outside [0, 1)", "use e.g. 0.85 or 0.95, or null")
        if self.mrstft and (not self.mrstft_fft_sizes or min(self.mrstft_fft_sizes) < 16):
            raise ConfigError("loss.mrstft_fft_sizes", f"{self.mrstft_fft_sizes} is not a list of FFT sizes >= 16", "use e.g. [256, 1024, 4096]")


class TrainingLoss(nn.Module):
    """Weighted sum of the configured terms; also returns each term for logging."""

    def __init__(self, settings: LossSettings):
        super().__init__()
        self.settings = settings

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        s = self.settings
        terms: dict[str, torch.Tensor] = {}
        if s.esr:
            if s.pre_emphasis is None:
                terms["esr"] = esr(pred, target)
            else:
                terms["esr_pre_emphasis"] = esr(pre_emphasis(pred, s.pre_emphasis), pre_emphasis(target, s.pre_emphasis))
        if s.mse:
            terms["mse"] = torch.mean((pred - target) ** 2)
        if s.dc:
            terms["dc"] = dc_loss(pred, target)
        if s.mrstft:
            terms["mrstft"] = multi_resolution_stft(pred, target, s.mrstft_fft_sizes)
        weights = {"esr": s.esr, "esr_pre_emphasis": s.esr, "mse": s.mse, "dc": s.dc, "mrstft": s.mrstft}
        return sum(weights[k] * v for k, v in terms.items()), terms
