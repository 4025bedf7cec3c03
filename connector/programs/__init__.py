"""Partner programs: programs.yaml (segments, tracks, ladders, incentives) and their evaluation."""

from connector.programs.loader import load_programs, loads_programs
from connector.programs.spec import ProgramsSpec

__all__ = ["ProgramsSpec", "load_programs", "loads_programs"]
