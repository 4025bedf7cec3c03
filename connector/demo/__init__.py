"""``prm-connector demo``: the whole loop told as a story against an embedded emulated org."""

from connector.demo.story import SCENES, Scene
from connector.demo.tour import DemoResult, run_demo

__all__ = ["SCENES", "DemoResult", "Scene", "run_demo"]
