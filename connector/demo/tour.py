"""Run the demo: an emulated org, the default config against it, and the story's scenes.

Every scene is followed by one ``sync_once`` (inbound, triggers, outbox), exactly what
``prm-connector sync --once`` runs; the results are read back from Salesforce through the API.
"""

from __future__ import annotations

import re
import shutil
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import select

from connector.demo.story import SCENES, Scene
from connector.emulator.testing import EmulatorHandle, running_emulator
from connector.service import Runtime, open_runtime, run_lock, sync_once
from connector.store.trigger_log import TriggerDecision

__all__ = ["DemoResult", "SceneResult", "pin_connection", "run_demo"]

_ENV_REF = re.compile(r"\$\{(PRM_[A-Z_]+)(?::-[^}]*)?\}")
DECISIONS = TriggerDecision.__table__  # type: ignore[attr-defined]
SHOWN_OUTCOMES = ("fired", "dry_run", "error")


@dataclass
class SceneResult:
    """What one scene did in Salesforce, what fired and why, and what Salesforce shows now."""

    title: str
    expect: str
    action: str
    decisions: list[dict[str, Any]] = field(default_factory=list)
    writes: dict[str, int] = field(default_factory=dict)
    salesforce: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


@dataclass
class DemoResult:
    """The whole demo, JSON-friendly through ``as_dict``."""

    directory: str
    instance_url: str
    backfill: dict[str, int]
    scenes: list[SceneResult]
    api_calls: int

    def as_dict(self) -> dict[str, Any]:
        """For ``demo --json``."""
        return {
            "directory": self.directory,
            "instance_url": self.instance_url,
            "backfill": self.backfill,
            "scenes": [s.__dict__ for s in self.scenes],
            "api_calls": self.api_calls,
        }


def pin_connection(directory: Path, emu: EmulatorHandle) -> Path:
    """Write the emulator's connection into the demo's connector.yaml (no env vars needed)."""
    path = directory / "connector.yaml"
    user = emu.users["integration"]
    values = {
        "PRM_SF_LOGIN_URL": emu.login_url,
        "PRM_SF_USERNAME": user["username"],
        "PRM_SF_PASSWORD": user["password"],
        "PRM_SF_CLIENT_ID": emu.client_id,
        "PRM_SF_CLIENT_SECRET": emu.client_secret,
        "PRM_SF_CA_BUNDLE": str(Path(emu.ca_bundle).resolve()),
        "PRM_DATABASE_URL": f"sqlite:///{(directory / 'prm.db').resolve()}",
    }
    text = _ENV_REF.sub(
        lambda m: values.get(m.group(1), m.group(0)), path.read_text(encoding="utf-8")
    )
    path.write_text(text, encoding="utf-8")
    return path


def _fresh(directory: Path) -> None:
    for stale in ("prm.db", "prm.db-wal", "prm.db-shm", "emulator"):
        target = directory / stale
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()


def _read_back(rt: Runtime, soql: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for page in rt.client().query_pages(soql):
        for row in page:
            rows.append(_plain(row))
    return rows


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if key == "attributes":
            continue
        if isinstance(value, dict):  # a parent relationship: Level.Name -> "Level.Name"
            for sub, inner in _plain(value).items():
                out[f"{key}.{sub}"] = inner
        else:
            out[key] = value
    return out


def _decisions(rt: Runtime, run_id: str) -> list[dict[str, Any]]:
    c = DECISIONS.c
    stmt = (
        select(c.trigger_id, c.entity, c.sf_id, c.outcome, c.branch, c.reason, c.actions)
        .where(c.run_id == run_id, c.outcome.in_(SHOWN_OUTCOMES))
        .order_by(c.id)
    )
    with rt.engine.connect() as conn:
        return [dict(r) for r in conn.execute(stmt).mappings()]


def _cycle(rt: Runtime) -> tuple[str, dict[str, int]]:
    # The poller reads up to a signpost (now minus a small skew): a change younger than that
    # belongs to the next cycle, so the demo waits the skew out as the daemon would.
    time.sleep(rt.settings.sync.signpost_skew_seconds + 0.2)
    with run_lock(rt, "sync"):
        report = sync_once(rt)
    return report.run_id, report.stages.get("outbox", {})


def _play(rt: Runtime, emu: EmulatorHandle, scene: Scene, ids: dict[str, str]) -> SceneResult:
    assert emu.org is not None, "the demo runs its emulator in-process"
    users = {name: u["id"] for name, u in emu.users.items()}
    action = scene.act(emu.org, users, date.today(), ids)
    run_id, writes = _cycle(rt)
    result = SceneResult(scene.title, scene.expect, action, _decisions(rt, run_id), writes)
    for rb in scene.read_back(ids):
        result.salesforce.setdefault(rb.label, []).extend(_read_back(rt, rb.soql))
    return result


def run_demo(directory: Path, *, write_defaults: Any) -> DemoResult:
    """Play the story in ``directory`` (config and SQLite store stay there afterwards)."""
    if directory.exists():
        _fresh(directory)
    write_defaults(directory, force=True)
    with running_emulator(seed="demo", state_dir=directory / "emulator") as emu:
        path = pin_connection(directory, emu)
        rt = open_runtime(path, env={})
        try:
            with run_lock(rt, "sync"):
                first = sync_once(rt)
            backfill = {o["entity"]: int(o.get("seen", 0) or 0) for o in first.objects}
            ids: dict[str, str] = {}
            scenes = [_play(rt, emu, scene, ids) for scene in SCENES]
            calls = rt.api_calls()
        finally:
            rt.close()
        return DemoResult(str(directory), emu.instance_url, backfill, scenes, calls)
