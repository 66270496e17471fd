"""User-facing errors: bad case files and failed runs.

A :class:`CaseError` is raised for anything a user can fix in a case file. It names the file and the
dotted key path, and says what was expected; the CLI prints it without a traceback and exits with 2.
"""

from __future__ import annotations

from pathlib import Path


class CaseError(Exception):
    """Invalid input in a case, sweep, compare, material or electrolyte file."""

    def __init__(self, message: str, file: str | Path | None = None, key: str | None = None):
        self.message = message
        self.file = Path(file) if file is not None else None
        self.key = key
        super().__init__(str(self))

    def __reduce__(self) -> tuple:
        """Pickle with the message, file and key (an error raised on rank 0 travels to the others intact)."""
        return (type(self), (self.message, self.file, self.key))

    def __str__(self) -> str:
        where = []
        if self.file is not None:
            where.append(str(self.file))
        if self.key:
            where.append(f"key '{self.key}'")
        prefix = ": ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message


class SolveError(RuntimeError):
    """A run that could not continue (Newton failed after all time-step cuts, or a state left its bounds)."""


class OutputError(SolveError):
    """Results could not be written during a run (disk full, read-only or removed output directory).

    The run stops; what was written stays in the unfinished ``<out>.partial`` directory.
    """
