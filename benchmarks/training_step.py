"""Time of one WaveNet training step (forward, backward, Adam) as `WaveNet.forward` computes it
(channel-major columns, hand-written backward) against the same model written plainly with
`conv1d` (`ampcapture.models.wavenet.forward_with_conv1d`), same weights, same batch, in one run:

    .venv/bin/python benchmarks/training_step.py [--preset wavenet_standard] [--batch-size 16] [--ny 8192] [--profile]

The two alternate, step by step, so a busy machine slows both alike; the figure that counts is
the ratio of the medians. `--profile` then prints where `WaveNet.forward`'s steps spend their time,
operator by operator (torch.profiler over three more steps).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

from ampcapture.models import build_model
from ampcapture.models.wavenet import forward_with_conv1d

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from devtools.presets import preset as read_preset  # noqa: E402


def train_step(forward, x: torch.Tensor, y: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
    loss = ((forward(x) - y) ** 2).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="wavenet_standard", help="a WaveNet preset in conf/model/")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--ny", type=int, default=8192)
    parser.add_argument("--steps", type=int, default=7)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--profile", action="store_true", help="also print torch.profiler's table of the columns' steps")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    preset = read_preset(args.preset)
    torch.manual_seed(0)
    model = build_model(preset["architecture"], preset["config"])
    x = torch.randn(args.batch_size, model.receptive_field - 1 + args.ny) * 0.3
    y = torch.randn(args.batch_size, args.ny) * 0.1
    optimizer = torch.optim.Adam(model.parameters())
    ways = {"columns (WaveNet.forward)": model, "conv1d": lambda x: forward_with_conv1d(model, x)}
    times: dict[str, list[float]] = {name: [] for name in ways}
    for step in range(args.steps + 1):
        for name, forward in ways.items():
            start = time.perf_counter()
            train_step(forward, x, y, optimizer)
            if step:  # the first step of each warms up
                times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(t) for name, t in times.items()}
    print(
        f"{args.preset}, batch {args.batch_size} x ({model.receptive_field - 1} + {args.ny}) samples, {args.threads} thread(s), median of {args.steps} steps:"
    )
    for name, median in medians.items():
        print(f"  {name:28s} {median * 1e3:7.1f} ms/step")
    print(f"  ratio columns / conv1d: {medians['columns (WaveNet.forward)'] / medians['conv1d']:.2f}")
    if args.profile:
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profiler:
            for _ in range(3):
                train_step(model, x, y, optimizer)
        print(profiler.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))


if __name__ == "__main__":
    main()
