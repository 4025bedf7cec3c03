"""A leader wedged in a job (a rule stuck in CEL): /healthz still answers from its own thread,
/readyz goes 503, the lease lapses to another writer, and the wedged leader is fenced: it
steps down when the job returns and exits 0 when stopped."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
import requests
from sqlalchemy import Engine

from connector.daemon.runner import Daemon, DaemonOptions
from connector.emulator.testing import EmulatorHandle, running_emulator
from connector.service import Runtime, open_runtime
from connector.service.lock import STORE_LOCK
from connector.store.locks import Lease, read_lease

from .conftest import sf_env, write_config
from .daemons import wait_for


def _status(url: str) -> int:
    try:
        return requests.get(url, timeout=10).status_code
    except requests.ConnectionError:  # not listening yet
        return 0


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorHandle]:
    with running_emulator(seed="empty") as handle:
        yield handle


def test_a_leader_stuck_in_a_job_answers_healthz_goes_unready_and_loses_the_lease(
    emu: EmulatorHandle, engine: Engine, tmp_path: Path
) -> None:
    """Given a leading daemon with daemon.wedged_failover whose writer spins in Python without
    a sign of life (as a rule stuck in CEL does) for longer than daemon.wedged_seconds, then
    /healthz stays 200, /readyz turns 503 naming the writer, the heartbeat lets the lease lapse
    and another writer takes it; when the job returns the daemon is fenced, stays a standby,
    and exits 0 when stopped."""
    url = engine.url.render_as_string(hide_password=False)
    cfg = write_config(
        tmp_path,
        {
            "wedged_seconds": "1",
            "wedged_failover": "true",
            "duration_seconds": "1.5",
            "renew_seconds": "0.3",
        },
    )
    rt = open_runtime(cfg, env=sf_env(emu, url))
    release = threading.Event()
    spinning = threading.Event()

    def stuck() -> None:
        spinning.set()
        n = 0
        while not release.is_set():  # pure Python, holding the GIL between switches
            n += sum(range(1000))

    def jobs(_rt: Runtime) -> Sequence[tuple[str, str, Callable[[], object]]]:
        return [("stuck", "0 0 1 1 *", stuck)]

    daemon = Daemon(rt, DaemonOptions(listen="127.0.0.1:0", poll_interval=600), scheduled=jobs)
    codes: list[int | BaseException] = []

    def run() -> None:
        try:
            codes.append(daemon.run())
        except BaseException as err:  # shown by the assertion below
            codes.append(err)

    runner = threading.Thread(target=run, daemon=True)
    runner.start()
    other: Lease | None = None
    try:
        ready = daemon.url + "/readyz"
        assert wait_for(lambda: _status(ready) == 200, 60), codes
        epoch = daemon.lease.epoch
        daemon.writer.request("stuck")
        assert spinning.wait(30)
        assert wait_for(lambda: _status(ready) == 503, 30)
        assert requests.get(ready, timeout=10).json()["checks"]["writer"] is False
        assert requests.get(daemon.url + "/healthz", timeout=10).status_code == 200
        other = Lease(engine, STORE_LOCK, "prm test 1 now", duration=60.0)
        assert wait_for(other.acquire, 30, step=0.2)
        assert other.epoch == (epoch or 0) + 1
        assert requests.get(daemon.url + "/healthz", timeout=10).status_code == 200
        release.set()
        assert wait_for(lambda: daemon.lease.lost is not None, 30)
        assert wait_for(lambda: not daemon.active, 30)
        info = read_lease(engine, STORE_LOCK)
        assert info is not None and info.holder == "prm test 1 now"
        assert requests.get(ready, timeout=10).status_code == 503
    finally:
        release.set()
        daemon.stop()
        runner.join(60)
        if other is not None:
            other.release()
        rt.close()
    assert codes == [0]
