"""Data for a worker on another machine: it has the project's code (a git clone) but not its
data, so before training it pulls the capture's aligned audio and split from the project's DVC
remote (pushed with `dvc push` where the align and split stages ran) instead of failing on a
missing split.json (README, "Scaling out")."""

from __future__ import annotations

from pathlib import Path

from ampcapture.core.errors import CaptureError
from ampcapture.core.paths import Layout


def fetch_split(layout: Layout, say=print) -> None:
    """Pull `layout`'s split and aligned audio when split.json is missing and the project this
    job runs in has a default DVC remote; otherwise leave the missing file for the loader to report."""
    if layout.split_json.is_file():
        return
    from dvc.exceptions import DvcException, NotDvcRepoError
    from dvc.repo import Repo

    try:
        repo = Repo()  # the project the job runs in (its working directory)
    except NotDvcRepoError:
        return
    with repo:
        remote = repo.config["core"].get("remote")
        if not remote:
            return
        targets = [str(layout.aligned), str(layout.splits)]
        say(f"{layout.split_json} is not on this machine: pulling {' and '.join(targets)} from the DVC remote {remote!r}")
        try:
            repo.pull(targets=targets)
        except DvcException as exc:
            raise CaptureError(
                layout.split_json,
                f"not on this machine and not pulled from the DVC remote {remote!r} ({exc})",
                "run `dvc push` on the machine that ran the align and split stages, or copy data/ here",
            ) from exc
    if not Path(layout.split_json).is_file():
        raise CaptureError(layout.split_json, f"not in the DVC remote {remote!r}", "run the split stage and `dvc push` where the capture was split")
