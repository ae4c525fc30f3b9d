"""What a sweep raises: a bad spec, a changed spec, an aborted run."""

from __future__ import annotations

__all__ = ["SpecChangedError", "SpecError", "SweepAborted"]


class SpecError(ValueError):
    """A sweep spec that cannot run; ``key`` names the culprit (``"grid.lr"``).

    Raised before anything is computed or written.
    """

    def __init__(self, key: str, message: str):
        self.key = key
        super().__init__(f"spec key {key!r}: {message}")


class SpecChangedError(ValueError):
    """The output folder holds results of a different spec (``--force-new-spec``
    to adopt the new one). Raised before anything is written."""


class SweepAborted(RuntimeError):
    """The sweep stopped before it finished (lost scheduler, workers that cannot
    import optkit). Finished batches are saved: rerun to resume."""
