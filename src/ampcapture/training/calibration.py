"""The kept model's output offset, removed. A weight average (and the last steps' noise) leaves
the kept model a small constant error: its output sits a few 1e-4 of full scale off the
recording's on the training audio and the same on playing it never heard. On loud playing that
is nothing; on quiet playing, where the error is easiest to hear, it was most of the error (the
suite's crunch capture: 95 % of its quiet test error). Its mean over the training region is an
estimate the test region does not steer, and the output's own bias removes it exactly."""

from __future__ import annotations

from pathlib import Path

import torch

from ampcapture.capture.dataset import Capture
from ampcapture.core.files import atomic_path
from ampcapture.formats.checkpoint import Checkpoint


@torch.no_grad()
def output_offsets(module, captures: list[Capture]) -> list[float]:
    """Per size the model holds (smallest first), its mean error (output - recording) over the
    training region of every trained capture (every trained setting of a set), pooled."""
    module.eval()
    sums, count = None, 0
    for capture in captures:
        knobs = None if capture.knobs is None else capture.knob_tensor[None]
        for x, y in capture.segments("train", module.pre_roll):
            errors = [float((out[0].double() - y.double()).sum()) for out in module.model.evaluate_sizes(x[None], knobs)]
            sums = errors if sums is None else [a + b for a, b in zip(sums, errors)]
            count += y.numel()
    return [total / count for total in sums]


def calibrate(module, captures: list[Capture], checkpoint: Checkpoint) -> list[float]:
    """Remove each size's output offset from `module` and from its checkpoint file (what the
    export reads); returns the offsets removed (0 for a size whose output has no bias)."""
    offsets = output_offsets(module, captures)
    removed = [offset if part.shift_output(-offset) else 0.0 for part, offset in zip(module.model.parts, offsets)]
    if any(removed):
        raw = {**checkpoint.raw, "state_dict": module.state_dict()}
        with atomic_path(Path(checkpoint.path)) as tmp:
            torch.save(raw, tmp)
    return removed
