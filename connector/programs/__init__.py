"""Partner programs: programs.yaml (segments, tracks, ladders, incentives) and their evaluation."""

from pathlib import Path

from connector.programs.loader import load_programs, loads_programs
from connector.programs.spec import ProgramsSpec

__all__ = ["ProgramsSpec", "load_programs", "loads_programs", "setup_programs"]


def setup_programs(path: Path | None) -> ProgramsSpec | None:
    """Load programs.yaml (None: not configured). What it adds to the rules is returned by
    ``connector.programs.hooks.extension(spec)``; the service layer builds the environment."""
    return load_programs(path) if path is not None else None
