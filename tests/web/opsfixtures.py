"""The demo's store, made once per session, copied per test; a TestClient on the ops page."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from clirunner import invoke

__all__ = ["HOSTILE_ERROR", "HOSTILE_NAME", "NO_SF_ENV", "copy_demo", "ops_app", "ops_client"]

# What a hostile or careless org and partner could put in front of an operator.
HOSTILE_ERROR = '<script>alert("sf")</script> Amount & "quotes" <b>bold</b>'
HOSTILE_NAME = "<img src=x onerror=alert(1)>Evil & Co"
# No Salesforce variable at all: the page and the store-only commands must not need them.
NO_SF_ENV: dict[str, str | None] = {k: None for k in os.environ if k.startswith("PRM_")}
DEAD_AT = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def _seed(db: Path) -> None:
    """Three of the demo's writes dead (two with the same code), and a partner with a hostile
    name: the demo's own run leaves none dead."""
    engine = create_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        ids = [r[0] for r in conn.execute(text(
            "SELECT id FROM outbox_item WHERE sobject IN ('Account', 'Task') ORDER BY id"))]
        plan = [(ids[0], "FIELD_CUSTOM_VALIDATION_EXCEPTION", "Tier must be set", '[]'),
                (ids[1], "FIELD_CUSTOM_VALIDATION_EXCEPTION", HOSTILE_ERROR, '["Amount__c"]'),
                (ids[-1], "REQUIRED_FIELD_MISSING", "Required fields are missing: [Subject]",
                 '["Subject"]')]
        for n, (item, code, message, fields) in enumerate(plan):
            conn.execute(text(
                "UPDATE outbox_item SET status='dead', error_code=:code, last_error=:msg, "
                "error_fields=:fields, attempts=10, updated_at=:at WHERE id=:id"),
                {"code": code, "msg": message, "fields": fields, "id": item,
                 "at": (DEAD_AT + timedelta(minutes=n)).strftime("%Y-%m-%d %H:%M:%S.%f")})
        conn.execute(text("UPDATE partner SET name=:n WHERE id=(SELECT max(id) FROM partner)"),
                     {"n": HOSTILE_NAME})
    engine.dispose()


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`prm-connector demo` run once: its folder, with the seeded dead writes."""
    folder = tmp_path_factory.mktemp("ops-demo") / "demo"
    res = invoke("demo", "--dir", str(folder), env=NO_SF_ENV)
    assert res.exit_code == 0, res.stderr
    # the story ends by saying how to open the operations page on what it left behind
    told = " ".join(res.stdout.split())
    assert "ops`, then open http://127.0.0.1:8765/ops/" in told, told[-400:]
    _seed(folder / "prm.db")
    return folder


def copy_demo(demo: Path, into: Path, *, token: str | None = None) -> Path:
    """A private copy of the demo's store and config; returns its connector.yaml."""
    into.mkdir(parents=True, exist_ok=True)
    for name in ("mapping.yaml", "programs.yaml", "triggers.yaml", "prm.db"):
        shutil.copy(demo / name, into / name)
    lines = []
    placed = False
    for line in (demo / "connector.yaml").read_text().splitlines():
        if line.strip().startswith("url: sqlite:"):
            line = "  url: sqlite:///prm.db"
        if token and line.strip().startswith("token: ${PRM_OPS_TOKEN"):
            line, placed = f"  token: {token}", True
        lines.append(line)
    if token and not placed:
        lines += ["ops:", f"  token: {token}"]
    (into / "connector.yaml").write_text("\n".join(lines) + "\n")
    return into / "connector.yaml"


@pytest.fixture
def ops_config(demo_store: Path, tmp_path: Path) -> Path:
    return copy_demo(demo_store, tmp_path / "ops")


def ops_app(config: Path, *, token: str | None = None) -> tuple[Any, Any]:
    """The standalone page over ``config``'s store, built with no ``PRM_*`` variable set
    (``token`` overrides ``ops.token``), and the runtime it reads (the caller closes it)."""
    from connector.cli.common import store_runtime
    from connector.web import auth_of, source_of
    from connector.web.app import create_ops_app

    saved = dict(os.environ)
    for key in NO_SF_ENV:
        os.environ.pop(key, None)
    try:
        rt = store_runtime(config)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    if token is not None:
        rt.settings.ops.token = token
    return create_ops_app(source_of(rt), auth_of(rt), standalone=True), rt


def ops_client(config: Path, *, token: str | None = None, peer: str = "127.0.0.1",
               base_url: str = "http://127.0.0.1:8765") -> Iterator[Any]:
    """A TestClient on the standalone page over ``config``'s store (``token`` overrides)."""
    from starlette.testclient import TestClient

    app, rt = ops_app(config, token=token)
    with TestClient(app, base_url=base_url, client=(peer, 50000),
                    follow_redirects=False) as client:
        client.rt = rt  # type: ignore[attr-defined]
        yield client
    rt.close()
