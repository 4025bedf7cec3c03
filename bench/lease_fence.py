"""What the lease's fence costs a write transaction, and how fast a standby takes over.

Prints small write transactions per second (one upsert of a consumer offset each) without and
with the fence installed, on SQLite and (with PRM_BENCH_DATABASE_URL or PRM_TEST_DATABASE_URL
set) on PostgreSQL, and the time from a holder's last renewal to a contender's takeover for a
1 s lease (a frozen holder: expiry) and for a released session (a crashed holder: at once).

    .venv/bin/python bench/lease_fence.py [N]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import uuid

from sqlalchemy import Engine, text

from connector.store import make_engine, migrate
from connector.store.locks import Lease, install_fence


def _commits(engine: Engine, n: int) -> float:
    started = time.perf_counter()
    for i in range(n):
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE consumer_offset SET seq = :i WHERE consumer = 'bench'"), {"i": i}
            )
    return n / (time.perf_counter() - started)


def _takeover(engine: Engine, crashed: bool) -> float:
    holder = Lease(engine, "bench", "prm bench 1 holder", duration=1.0)
    assert holder.acquire()
    last = time.perf_counter()
    if crashed:
        holder._release_session()  # what the kernel does for a killed process
    contender = Lease(engine, "bench", "prm bench 2 standby", duration=1.0)
    while not contender.acquire():
        time.sleep(0.02)
    took = time.perf_counter() - last
    contender.release()
    holder.release()
    return took


def run(label: str, engine: Engine, n: int) -> None:
    migrate(engine)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM consumer_offset WHERE consumer = 'bench'"))
        conn.execute(
            text(
                "INSERT INTO consumer_offset (consumer, seq, updated_at) "
                "VALUES ('bench', 0, CURRENT_TIMESTAMP)"
            )
        )
    _commits(engine, 50)  # warm the pool
    plain = _commits(engine, n)
    lease = Lease(engine, "store", "prm bench 0 fence", duration=60.0)
    assert lease.acquire()
    remove = install_fence(engine, lease, idle_timeout=60.0)
    try:
        fenced = _commits(engine, n)
    finally:
        remove()
        lease.release()
    frozen, crashed = _takeover(engine, crashed=False), _takeover(engine, crashed=True)
    print(
        f"{label:10s} commits/s unfenced {plain:8.0f}  fenced {fenced:8.0f}  "
        f"(x{fenced / plain:.2f}); takeover: frozen holder {frozen:.2f} s (lease 1 s), "
        f"crashed holder {crashed:.3f} s"
    )


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{folder}/bench.db")
        run("sqlite", engine, n)
        engine.dispose()
    url = os.environ.get("PRM_BENCH_DATABASE_URL") or os.environ.get("PRM_TEST_DATABASE_URL")
    if url:
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        admin = make_engine(url)
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        try:
            engine = make_engine(url, connect_args={"options": f"-csearch_path={schema}"})
            run("postgresql", engine, n)
            engine.dispose()
        finally:
            with admin.begin() as conn:
                conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
            admin.dispose()


if __name__ == "__main__":
    main()
