"""Run the demo: an emulated org, the default config against it, and the story's scenes.

Every scene is followed by one ``sync_once`` (inbound, triggers, outbox), exactly what
``prm-connector sync --once`` runs; the results are read back from Salesforce through the API.
"""

from __future__ import annotations

import re
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import select

from connector.demo.story import SCENES, Scene
from connector.emulator.testing import EmulatorHandle, running_emulator
from connector.service import Runtime, open_runtime, run_lock, sync_once
from connector.store.trigger_log import TriggerDecision

__all__ = ["DemoResult", "LiveHook", "SceneResult", "live_daemon", "pin_connection", "run_demo"]

# Called after the story, inside the emulator's lifetime: (runtime, emulator, result) -> None
LiveHook = Callable[[Runtime, EmulatorHandle, "DemoResult"], None]
LIVE_OBJECTS = ("Deal_Registration__c", "Partner_Certification__c", "Opportunity", "Account")

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
    prm: dict[str, Any] = field(default_factory=dict)  # the partner's PRM side, when shown


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
    values = {
        **emu.connector_env(),
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


def _read_back(rt: Runtime, soql: str, client: Any = None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for page in (client or rt.client()).query_pages(soql):
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
        client = _signed_in(rt, emu, rb.user) if rb.user != "integration" else None
        result.salesforce.setdefault(rb.label, []).extend(_read_back(rt, rb.soql, client))
    if scene.partner is not None:
        result.prm = _prm_side(rt, scene.partner)
    return result


def _signed_in(rt: Runtime, emu: EmulatorHandle, user: str) -> Any:
    """A client signed in as ``user`` of the emulated org (the partner's portal user) through
    the API: the connector's own OAuth flow with that user's login."""
    from connector.salesforce import connect

    creds = emu.users[user]
    settings = rt.settings.salesforce.model_copy(
        update={"username": creds["username"], "password": creds["password"]})
    return connect(settings)


def _prm_side(rt: Runtime, partner_sf_id: str) -> dict[str, Any]:
    """What only the PRM holds for a partner: its open segments and its points ledger total."""
    from connector.programs.facts import points_balance
    from connector.store.models import entity_table
    from connector.store.programs import SegmentMembership

    partner = entity_table("partner")
    seg = SegmentMembership.__table__  # type: ignore[attr-defined]
    with rt.engine.connect() as conn:
        pid = conn.execute(
            select(partner.c.id).where(partner.c.sf_id == partner_sf_id)
        ).scalar_one()
        segments = sorted(
            conn.execute(
                select(seg.c.segment).where(seg.c.partner_id == pid, seg.c.left_at.is_(None))
            ).scalars()
        )
        points = points_balance(conn, pid)
    return {"segments": segments, "points_ledger_total": float(points)}


def live_daemon(rt: Runtime, emu: EmulatorHandle, announce: Callable[[str], None]) -> int:
    """Run the daemon on the demo's org until SIGINT/SIGTERM, with Outbound Messages from the
    emulator pushed to its receiver; ``announce`` gets the receiver's URL once it is up."""
    from connector.daemon.runner import Daemon, DaemonOptions
    from connector.daemon.triggers import scheduled_jobs

    daemon = Daemon(
        rt, DaemonOptions(listen="127.0.0.1:0", poll_interval=30.0), scheduled=scheduled_jobs
    )
    for sobject in LIVE_OBJECTS:
        emu.call(
            "POST",
            "/_emulator/outbound",
            json={"sobject": sobject, "url": f"{daemon.url}/salesforce/outbound"},
        )
    daemon.install_signal_handlers()
    # The receiver starts listening inside run(): say where it is once it answers.
    threading.Thread(target=_announce_when_up, args=(daemon.url, announce), daemon=True).start()
    return daemon.run()


def _announce_when_up(url: str, announce: Callable[[str], None], tries: int = 600) -> None:
    import urllib.request

    for _ in range(tries):
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1):
                break
        except OSError:
            time.sleep(0.1)
    announce(url)


def run_demo(
    directory: Path, *, write_defaults: Any, live: LiveHook | None = None
) -> DemoResult:
    """Play the story in ``directory`` (config and SQLite store stay there afterwards).

    With ``live``, the hook runs after the story while the emulated org is still up.
    """
    if directory.exists():
        _fresh(directory)
    write_defaults(directory, force=True)
    with running_emulator(seed="demo", state_dir=directory / "emulator") as emu:
        path = pin_connection(directory, emu)
        rt = open_runtime(path, env={})
        # The poller reads up to a signpost, now minus a skew that leaves room for changes a
        # real org commits late. The emulated org runs in this process and stamps a change as
        # it commits it, so none is late: no skew, and a scene's change is in the next cycle
        # at once (connector.yaml keeps the default for a real org).
        rt.settings.sync.signpost_skew_seconds = 0
        try:
            with run_lock(rt, "sync"):
                first = sync_once(rt)
            backfill = {o["entity"]: int(o.get("seen", 0) or 0) for o in first.objects}
            ids: dict[str, str] = {}
            scenes = [_play(rt, emu, scene, ids) for scene in SCENES]
            result = DemoResult(str(directory), emu.instance_url, backfill, scenes, rt.api_calls())
            if live is not None:
                live(rt, emu, result)
        finally:
            rt.close()
        return result
