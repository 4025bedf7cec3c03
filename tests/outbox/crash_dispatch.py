"""The child of the outbox crash test: dispatch the outbox, SIGKILL itself right after the N-th
Salesforce write call returns (sent, results not yet recorded). N < 0: never.

Started with ``procs.start(dispatch_then_die, config, n)``, or by hand:
``python tests/outbox/crash_dispatch.py CONFIG N``.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from connector.mapping import load_mapping
from connector.outbox import dispatch
from connector.salesforce import SalesforceClient, connect
from connector.settings import load_settings
from connector.store import make_engine

CLAIM = 50  # records per transaction (one collection call each): many crash points


def dispatch_then_die(config: str, kill_after: int) -> None:
    """Dispatch everything due; SIGKILL this process after write call ``kill_after``."""
    settings = load_settings(config)
    settings.outbox.claim_records = CLAIM
    engine = make_engine(settings.database.url)
    client = connect(settings.salesforce)
    real = SalesforceClient.collection
    calls = {"n": 0}

    def collection(self: SalesforceClient, *args: Any, **kwargs: Any) -> Any:
        result = real(self, *args, **kwargs)
        calls["n"] += 1
        if calls["n"] == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    SalesforceClient.collection = collection  # type: ignore[method-assign]
    spec = load_mapping(settings.mapping_path)
    report = dispatch((engine, client, spec, settings))
    print(report.counts(), flush=True)


if __name__ == "__main__":
    dispatch_then_die(sys.argv[1], int(sys.argv[2]))
