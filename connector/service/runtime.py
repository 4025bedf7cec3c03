"""The composition root shared by the CLI and the daemon: config, store and a lazy client."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from connector import gctune
from connector.mapping import MappingSpec, load_mapping
from connector.settings import SalesforceSettings, Settings, load_settings
from connector.store import make_engine, migrate
from connector.sync.context import Progress, SyncContext, utcnow

if TYPE_CHECKING:
    from connector.programs.spec import ProgramsSpec
    from connector.salesforce import SalesforceClient
    from connector.service.rules import RulesEnvironment

__all__ = ["Connector", "Runtime", "open_runtime", "open_store"]

# Builds a client from the salesforce: settings (tests and the daemon may pass their own).
Connector = Callable[[SalesforceSettings], "SalesforceClient"]


def _connect(settings: SalesforceSettings) -> SalesforceClient:
    from connector.salesforce import connect

    return connect(settings)


def _no_progress(_entity: str, _done: int, _total: int | None) -> None:
    return None


@dataclass
class Runtime:
    """Settings, mapping, store engine and clock of one process; the client comes on demand."""

    settings: Settings
    spec: MappingSpec
    engine: Engine
    clock: Callable[[], datetime] = utcnow
    connector: Connector = _connect
    _rules: RulesEnvironment | None = field(default=None, repr=False)
    _refused: tuple[object, ...] | None = field(default=None, repr=False)  # stamps that failed
    _client: SalesforceClient | None = field(default=None, repr=False)

    @property
    def rules(self) -> RulesEnvironment:
        """The rule environment (facts, functions, actions, segments, fiscal calendar,
        triggers.yaml and programs.yaml), built on first use and kept: every stage, scheduled
        rule and ladder of this runtime reads this one. A bad file raises ``ConfigError``."""
        if self._rules is None:
            from connector.service.rules import build_rules

            self._rules = build_rules(self.settings, self.spec)
        return self._rules

    @property
    def programs(self) -> ProgramsSpec | None:
        """programs.yaml, when configured."""
        return self.rules.programs

    def reload_rules(self) -> bool:
        """Build the rule environment again, whole, if one of its files changed since it was
        built; True when it did. A file that no longer loads raises ``ConfigError`` once (for
        that version of the files) and the environment before stays in use."""
        if self._rules is None:
            return False
        stamps = self._rules.current_stamps()
        if stamps == self._rules.stamps or stamps == self._refused:
            return False
        from connector.errors import ConfigError
        from connector.service.rules import build_rules

        try:
            self._rules = build_rules(self.settings, self.spec)
        except ConfigError:
            self._refused = stamps
            raise
        self._refused = None
        return True

    def client(self) -> SalesforceClient:
        """The Salesforce client, connected on first use and kept for the runtime's life."""
        if self._client is None:
            self._client = self.connector(self.settings.salesforce)
        return self._client

    @property
    def connected(self) -> bool:
        """Whether the client has been made (so counting its calls costs no login)."""
        return self._client is not None

    def api_calls(self) -> int:
        """Data API calls made so far by this runtime's client (0 before it connects)."""
        return self._client.calls if self._client is not None else 0

    def context(self, progress: Progress | None = None) -> SyncContext:
        """What the sync services take: engine, client, mapping, sync settings, clock."""
        return SyncContext(
            engine=self.engine,
            client=self.client(),
            spec=self.spec,
            settings=self.settings.sync,
            clock=self.clock,
            progress=progress or _no_progress,
        )

    def close(self) -> None:
        """Drop the client and the engine's pooled connections."""
        if self._client is not None:
            session = getattr(self._client.transport, "session", None)
            if session is not None:
                session.close()
            self._client = None
        self.engine.dispose()


def open_store(url: str) -> Engine:
    """The store's engine, migrated to every head (a fresh store is created here).

    ``migrate`` serialises processes started together (an advisory lock on PostgreSQL,
    BEGIN IMMEDIATE on SQLite), so they never race to create the same tables.
    """
    engine = make_engine(url)
    migrate(engine)
    return engine


def open_runtime(
    config_path: Path | None,
    *,
    clock: Callable[[], datetime] = utcnow,
    env: Mapping[str, str] | None = None,
    connector: Connector | None = None,
) -> Runtime:
    """Load and validate connector.yaml, mapping.yaml and the rule files (programs.yaml,
    triggers.yaml: the runtime's one rule environment), then open and migrate the store.

    Bad config raises ``ConfigError`` (exit 2) before the store or the org is touched.
    """
    from connector.service.rules import build_rules

    settings = load_settings(config_path, env=env)
    spec = load_mapping(settings.mapping_path)
    rules = build_rules(settings, spec)
    engine = open_store(settings.database.url)
    gctune.settle()  # start-up is over: its objects leave the collector's scans
    return Runtime(
        settings=settings, spec=spec, engine=engine, clock=clock, connector=connector or _connect,
        _rules=rules,
    )
