"""What `check` tells of a capture: each check a record with its verdict, the value measured, a
message naming the file and a fix; an `Inspection` gathers them with what alignment found. The
settings of the checks and of the alignment (`data.align`) are here too: every threshold a
verdict is judged by."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np

from ampcapture.core.errors import ConfigError

Verdict = Literal["ok", "warning", "error", "skipped"]


@dataclass
class AlignSettings:
    SECTION: ClassVar[str] = "data.align"

    expected_sample_rate: int | None
    channel: int
    length_tolerance_s: float
    min_latency_samples: int
    max_latency_samples: int
    safety_margin_samples: int
    blip_noise_factor: float
    blip_relative_threshold: float
    blip_agreement_samples: int
    drift_tolerance_samples: int
    xcorr_window_s: float
    xcorr_relative_threshold: float
    xcorr_agreement_samples: int
    latency_samples: int | None
    silence_threshold_db: float
    clip_level: float
    max_clipped_samples: int
    repeatability_esr_warn: float
    max_lead_samples: int
    linear_fit_esr_max: float | None
    dropout_ms: float
    dc_warn: float
    dc_error: float

    def __post_init__(self) -> None:
        if self.min_latency_samples > 0 or self.max_latency_samples <= 0:
            raise ConfigError(
                "data.align.min/max_latency_samples",
                f"search range [{self.min_latency_samples}, {self.max_latency_samples}] must contain 0",
                "use min_latency_samples <= 0 < max_latency_samples",
            )
        for name in ("length_tolerance_s", "xcorr_window_s", "blip_noise_factor"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"data.align.{name}", f"must be > 0, got {getattr(self, name)}", "set a positive value")
        if self.safety_margin_samples < 0 or self.channel < 0 or self.xcorr_agreement_samples < 0:
            raise ConfigError("data.align", "safety_margin_samples, channel and xcorr_agreement_samples must be >= 0", "fix the negative value")


@dataclass
class Check:
    name: str
    verdict: Verdict
    value: object = None
    message: str = ""
    fix: str = ""
    file: str = ""

    def describe(self) -> str:
        """'file: message (fix: ...)', one line."""
        text = f"{self.file}: {self.message}" if self.file else self.message
        return f"{text} (fix: {self.fix})" if self.fix else text


class Stop(Exception):
    """A failed check that ends the inspection: what would come next needs what failed."""


@dataclass
class Inspection:
    """Everything `inspect` learned; `aligned` holds the aligned pair when there is no error."""

    input_path: str
    output_path: str
    checks: list[Check] = field(default_factory=list)
    sample_rate: int | None = None
    latency_samples: int | None = None
    latency_method: str | None = None
    shift_samples: int | None = None
    sidecar: dict | None = None
    aligned: tuple[np.ndarray, np.ndarray] | None = None

    def add(self, name: str, verdict: Verdict, value=None, message: str = "", fix: str = "", file: Path | str = "") -> Check:
        check = Check(name, verdict, value, message, fix, str(file))
        self.checks.append(check)
        return check

    def fail(self, name: str, value, message: str, fix: str, file: Path | str) -> None:
        """An error check after which the inspection cannot go on."""
        self.add(name, "error", value, message, fix, file)
        raise Stop(name)

    def stop_if_failed(self) -> None:
        """End the inspection if any check so far failed."""
        if self.errors:
            raise Stop(self.errors[0].name)

    @property
    def errors(self) -> list[Check]:
        return [c for c in self.checks if c.verdict == "error"]

    @property
    def warnings(self) -> list[Check]:
        return [c for c in self.checks if c.verdict == "warning"]

    def report(self, capture: str | None = None) -> dict:
        n = None if self.aligned is None else int(self.aligned[0].size)
        return {
            "capture": capture,
            "input": self.input_path,
            "output": self.output_path,
            "ok": not self.errors,
            "sample_rate": self.sample_rate,
            "num_samples": n,
            "duration_s": None if n is None else n / self.sample_rate,
            "latency_samples": self.latency_samples,
            "latency_method": self.latency_method,
            "alignment_shift_samples": self.shift_samples,
            "standardized_signal": self.sidecar is not None,
            "standard_input": None if self.sidecar is None else self.sidecar.get("standard"),
            "checks": {c.name: {"verdict": c.verdict, "value": c.value, "message": c.message} for c in self.checks},
            "warnings": [c.describe() for c in self.warnings],
            "errors": [c.describe() for c in self.errors],
        }
