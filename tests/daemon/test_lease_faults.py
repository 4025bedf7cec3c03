"""Fenced leadership under faults, on PostgreSQL, with two daemons and changes arriving steadily.

Each test cuts or freezes the leader and checks: the standby takes over; the old leader notices,
steps down and writes nothing after the takeover; no record version is logged twice and no rule
fires twice for one registration; both daemons exit 0 on SIGTERM.

"No write made by a fenced leader" is checked in the store itself: a deferred trigger (it runs
at COMMIT) on the tables the leader writes records, for every committed row, the lease epoch
the writing transaction claimed (``prm.lease_epoch``, set by the fence) and the lease row's
epoch at that commit. A fenced write would show a claim older than the row's epoch, or none.
Leases are short here (1.5 s, renewed every 0.3 s) so each test takes seconds.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from procs import start_cli
from sqlalchemy import Engine, func, select, text

from connector.emulator.testing import EmulatorHandle, running_emulator
from connector.store import make_engine, migrate
from connector.store.bookkeeping import ChangeLog, TriggerFiring

from .conftest import sf_env, write_config
from .daemons import DaemonProcess, wait_for

pytestmark = [pytest.mark.slow]

LEASE = 1.5
AUDITED = ("change_log", "consumer_offset", "sync_state", "outbox_item", "trigger_firing",
           "sync_run")
API = "/services/data/v62.0"


@pytest.fixture(params=[pytest.param("postgres", marks=pytest.mark.postgres)])
def db_kind(request: pytest.FixtureRequest) -> str:
    """PostgreSQL only: the faults are a server's (a cut session, an idle-in-transaction
    timeout); the lease and fence themselves are tested on SQLite too (tests/store)."""
    from dbfixtures import _pg_url

    _pg_url()
    return str(request.param)


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorHandle]:
    with running_emulator(seed="demo") as handle:
        yield handle


@pytest.fixture
def daemons() -> Iterator[list[DaemonProcess]]:
    started: list[DaemonProcess] = []
    yield started
    for d in started:
        d.close()


def _audit(engine: Engine) -> None:
    """Record, at each commit, the epoch a write claimed and the lease's epoch."""
    with engine.begin() as conn:
        conn.execute(text(
            "CREATE TABLE fence_audit (id bigserial PRIMARY KEY, tbl text, claimed text, "
            "current_epoch int)"
        ))
        conn.execute(text(
            "CREATE FUNCTION fence_audit_row() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "INSERT INTO fence_audit (tbl, claimed, current_epoch) VALUES (TG_TABLE_NAME, "
            "current_setting('prm.lease_epoch', true), "
            "(SELECT epoch FROM store_lease WHERE name = 'store')); RETURN NULL; END $$"
        ))
        for table in AUDITED:
            conn.execute(text(
                f"CREATE CONSTRAINT TRIGGER fence_audit_{table} AFTER INSERT OR UPDATE ON {table} "
                "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION fence_audit_row()"
            ))


class Changes:
    """Sales ops at work: a new Submitted registration every 0.15 s, until stopped."""

    def __init__(self, emu: EmulatorHandle) -> None:
        self.emu = emu
        self.partner = emu.call(
            "GET", f"{API}/query",
            params={"q": "SELECT Id FROM Account WHERE IsPartner = true ORDER BY Id LIMIT 1"},
        )["records"][0]["Id"]
        self.created: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Changes:
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        n = 0
        while not self._stop.wait(0.15):
            n += 1
            body = {
                "Name": f"DR-L{n}",
                "Partner__c": self.partner,
                "End_Customer_Name__c": f"Lease Customer {os.getpid()}-{n}",
                "End_Customer_Domain__c": f"lease{n}.example.com",
                "Amount__c": 1000 + n,
                "Status__c": "Submitted",
            }
            res = self.emu.call("POST", f"{API}/sobjects/Deal_Registration__c", json=body)
            self.created.append(res["id"])


def _start(emu: EmulatorHandle, engine: Engine, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    url = engine.url.render_as_string(hide_password=False)
    replace = {
        "signpost_skew_seconds": "0",
        "duration_seconds": str(LEASE),
        "renew_seconds": "0.3",
        # (and a standby that contends every 0.2 s, so it may win a race for a cut session)
        "outbox_interval_seconds": "0.5\n  standby_retry_seconds: 0.2",
    }
    return write_config(tmp_path, replace), sf_env(emu, url)


def _epoch(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT epoch FROM store_lease")).scalar_one())


def _ready(d: DaemonProcess) -> bool:
    try:
        return d.get("/readyz").status_code == 200
    except Exception:
        return False


def _leader_and_standby(
    emu: EmulatorHandle, engine: Engine, tmp_path: Path, daemons: list[DaemonProcess]
) -> tuple[DaemonProcess, DaemonProcess, Path, dict[str, str]]:
    emu.reset("demo")
    _audit(engine)
    config, env = _start(emu, engine, tmp_path)
    first = DaemonProcess(config, env, poll_interval=0.3)
    daemons.append(first)
    assert first.wait_event("daemon.sync_done", 120), first.output()
    second = DaemonProcess(config, env, poll_interval=0.3)
    daemons.append(second)
    assert second.wait_event("daemon.standby", 60), second.output()
    assert _ready(first) and not _ready(second)
    return first, second, config, env


def _check_store(engine: Engine, created: list[str]) -> None:
    """No version logged twice, one decision per registration, no write from a fenced or
    unfenced writer, and leaders one after the other (epochs never go back)."""
    c = ChangeLog.__table__.c  # type: ignore[attr-defined]
    f = TriggerFiring.__table__.c  # type: ignore[attr-defined]
    with engine.connect() as conn:
        twice = conn.execute(
            select(c.entity, c.sf_id, c.op, c.modstamp)
            .group_by(c.entity, c.sf_id, c.op, c.modstamp)
            .having(func.count() > 1)
        ).all()
        decided = conn.execute(
            select(f.local_id, func.count())
            .where(f.trigger_id == "auto-approve-registration")
            .group_by(f.local_id)
        ).all()
        logged = conn.execute(
            select(func.count(func.distinct(c.sf_id))).where(
                c.entity == "deal_registration", c.op == "created", c.sf_id.in_(created)
            )
        ).scalar_one()
        audit = conn.execute(
            text("SELECT id, tbl, claimed, current_epoch FROM fence_audit ORDER BY id")
        ).all()
    assert twice == []
    assert logged > 0 and decided
    assert [row for row in decided if row[1] != 1] == []
    assert audit
    assert [row for row in audit if row.claimed != str(row.current_epoch)] == []
    epochs = [row.current_epoch for row in audit]
    assert epochs == sorted(epochs)  # writes of epoch N all commit before any of N + 1


def _holder(engine: Engine, daemons: list[DaemonProcess]) -> tuple[DaemonProcess, int, bool]:
    """The daemon the lease row names, its epoch, and whether its session is connected."""
    with engine.connect() as conn:
        holder, epoch = conn.execute(text("SELECT holder, epoch FROM store_lease")).one()
        sessions = conn.execute(
            text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :h"),
            {"h": holder},
        ).scalar_one()
    pid = int(holder.split()[2])
    return next(d for d in daemons if d.proc.pid == pid), int(epoch), sessions == 1


def test_the_leaders_session_cut_from_the_server(
    emu: EmulatorHandle, engine: Engine, tmp_path: Path, daemons: list[DaemonProcess]
) -> None:
    """Given a leader and a standby under steady changes, when the leader's lease session is
    terminated by the server (pg_terminate_backend, as a pooler failover does), three times,
    then each time one daemon leads on: the leader takes its session back, or the standby
    takes over and the old leader is fenced (it steps down without writing); a `sync --once`
    beside them is refused naming the daemon; both exit 0 on SIGTERM."""
    first, second, config, env = _leader_and_standby(emu, engine, tmp_path, daemons)
    with Changes(emu) as changes:
        for _ in range(3):
            leader, epoch, _ = _holder(engine, daemons)
            done = leader.count("daemon.sync_done")
            assert leader.wait_event("daemon.sync_done", 60, times=done + 1), leader.output()
            lost = leader.count("daemon.lease_lost")
            with engine.connect() as conn:
                cut = conn.execute(
                    text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE application_name = (SELECT holder FROM store_lease)"
                    )
                ).scalar_one()
            assert cut == 1
            # the leader's heartbeat (0.3 s) takes its session back, or the standby takes it
            assert wait_for(lambda: _holder(engine, daemons)[2], 30)
            now, now_epoch, _ = _holder(engine, daemons)
            if now is not leader:
                assert now_epoch > epoch
                assert leader.wait_event("daemon.lease_lost", 30, times=lost + 1)
            assert wait_for(lambda: _ready(now) and not any(  # noqa: B023
                _ready(d) for d in daemons if d is not now  # noqa: B023
            ), 30), now.output()
            done = now.count("daemon.sync_done")
            assert now.wait_event("daemon.sync_done", 60, times=done + 1), now.output()

        refused = start_cli(
            ["-c", str(config), "sync", "--once"],
            env={**{k: v for k, v in os.environ.items() if not k.startswith("PRM_")}, **env},
            folder=tmp_path,
        )
        assert refused.wait(120) == 1
        assert "another run (daemon) holds the store" in refused.stderr, refused.stderr
        assert refused.stderr.count("\n") == 1
    time.sleep(1.0)  # the last registrations reach the store
    assert first.terminate() == 0, first.output()
    assert second.terminate() == 0, second.output()
    _check_store(engine, changes.created)


def test_the_leader_frozen_for_several_leases(
    emu: EmulatorHandle, engine: Engine, tmp_path: Path, daemons: list[DaemonProcess]
) -> None:
    """Given a leader and a standby under steady changes, when the leader is frozen (SIGSTOP)
    for four lease durations, then the standby takes over within the lease; resumed, the old
    leader is fenced: it writes nothing more, steps down, and both exit 0 on SIGTERM."""
    first, second, _, _ = _leader_and_standby(emu, engine, tmp_path, daemons)
    epoch = _epoch(engine)
    with Changes(emu) as changes:
        assert first.wait_event("daemon.sync_done", 60, times=first.count("daemon.sync_done") + 2)
        first.proc.send_signal(signal.SIGSTOP)
        try:
            assert second.wait_event("daemon.active", 30), second.output()
            assert wait_for(lambda: _ready(second), 30), second.output()
            took_over = _epoch(engine)
            time.sleep(max(0.0, 4 * LEASE - 1.0))  # frozen for about four lease durations
        finally:
            first.proc.send_signal(signal.SIGCONT)
        assert took_over == epoch + 1
        assert first.wait_event("daemon.lease_lost", 30), first.output()
        assert wait_for(lambda: not _ready(first), 30)
        after = second.count("daemon.sync_done")
        assert second.wait_event("daemon.sync_done", 60, times=after + 3), second.output()
    time.sleep(1.0)
    assert first.terminate() == 0, first.output()
    assert second.terminate() == 0, second.output()
    assert _epoch(engine) == epoch + 1
    _check_store(engine, changes.created)


PG_BINS = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))


class PrivateCluster:
    """A throwaway PostgreSQL cluster in a temp folder on a free port (never the shared
    server, which other tests use): initdb, start, stop, start again."""

    def __init__(self, folder: Path) -> None:
        if not PG_BINS:
            pytest.skip("no PostgreSQL server binaries under /usr/lib/postgresql")
        self.bin = PG_BINS[-1].parent
        self.folder = folder
        folder.mkdir()
        folder.chmod(0o777)
        self.data = folder / "data"
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres",
                  "--no-sync", "-E", "UTF8")
        self.start()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        cmd = [str(self.bin / tool), *args]
        if os.geteuid() == 0:  # initdb refuses root
            cmd = ["runuser", "-u", "nobody", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, cwd=self.folder, timeout=120)

    def _ctl(self, *args: str) -> None:
        options = (f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c full_page_writes=off")
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l",
                  str(self.folder / "log"), "-w", *args)

    def start(self) -> None:
        self._ctl("start")

    def stop(self) -> None:
        self._ctl("-m", "fast", "stop")

    def remove(self) -> None:
        with contextlib.suppress(Exception):
            self._ctl("-m", "immediate", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture
def cluster(db_kind: str) -> Iterator[PrivateCluster]:
    """A private cluster (the server may run as another user: a folder of its own in /tmp)."""
    parent = Path(tempfile.mkdtemp(prefix="prm-pg-"))
    parent.chmod(0o755)
    folder = parent / "cluster"
    pg = PrivateCluster(folder)
    try:
        yield pg
    finally:
        pg.remove()
        shutil.rmtree(folder.parent, ignore_errors=True)


def test_postgresql_restarted_under_both_daemons(
    emu: EmulatorHandle, cluster: PrivateCluster, tmp_path: Path, daemons: list[DaemonProcess]
) -> None:
    """Given a leader and a standby on a private PostgreSQL under steady changes, when the
    server stops for two lease durations and comes back, then both daemons survive (the
    standby keeps contending with backoff), one of them leads again and catches up, and no
    version is logged twice nor written by a fenced leader; both exit 0 on SIGTERM."""
    engine = make_engine(cluster.url)
    try:
        migrate(engine)
        first, second, _, _ = _leader_and_standby(emu, engine, tmp_path, daemons)
        with Changes(emu) as changes:
            done = first.count("daemon.sync_done")
            assert first.wait_event("daemon.sync_done", 60, times=done + 1), first.output()
            engine.dispose()
            cluster.stop()
            try:
                assert wait_for(
                    lambda: first.saw("daemon.lease_lost") or first.saw("daemon.standby_retry"),
                    30,
                ), first.output()
                assert second.wait_event("daemon.standby_retry", 30), second.output()
                time.sleep(2 * LEASE)
                assert first.proc.poll() is None and second.proc.poll() is None
            finally:
                cluster.start()
            assert wait_for(lambda: _leader(daemons) is not None, 60), (
                first.output() + second.output()
            )
            leader = _leader(daemons)
            assert leader is not None
            done = leader.count("daemon.sync_done")
            assert leader.wait_event("daemon.sync_done", 60, times=done + 2), leader.output()
        time.sleep(1.0)
        assert first.terminate() == 0, first.output()
        assert second.terminate() == 0, second.output()
        _check_store(engine, changes.created)
    finally:
        engine.dispose()


def _leader(daemons: list[DaemonProcess]) -> DaemonProcess | None:
    ready = [d for d in daemons if _ready(d)]
    return ready[0] if len(ready) == 1 else None
