"""Errors users can act on: each names the file (or config key), the problem and the fix."""

from __future__ import annotations


class AmpCaptureError(Exception):
    """Base of every error ampcapture reports to a user instead of a traceback."""

    def __init__(self, where: str, problem: str, fix: str):
        self.where, self.problem, self.fix = str(where), problem, fix
        super().__init__(f"{self.where}: {problem}\n  fix: {fix}")


class CaptureError(AmpCaptureError):
    """A recording (input/output WAV) that cannot be used as it is."""


class ConfigError(AmpCaptureError):
    """A configuration value that makes no sense."""


class ModelFileError(AmpCaptureError):
    """A model file that cannot be read, or a model that cannot be written in a format."""


def user_error(exc: AmpCaptureError | OSError) -> AmpCaptureError:
    """What an entry point prints instead of a traceback: our errors as they are, and a
    file-system error (read-only folder, full disk, a folder where a file belongs) as a message
    that names the path."""
    if isinstance(exc, AmpCaptureError):
        return exc
    return AmpCaptureError(exc.filename or "a file", exc.strerror or str(exc), "check the path, that its folder is writable and that the disk has free space")
