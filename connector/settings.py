"""connector.yaml: typed settings, ``${ENV}`` interpolation, every mistake located to file:line:col.

``load_settings`` reads the file once; everything else receives the parsed ``Settings``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from connector import yamlconf
from connector.errors import ConfigError, ConfigProblem
from connector.redact import redact_url

__all__ = [
    "AuthFlow",
    "DaemonSettings",
    "DatabaseSettings",
    "OpsSettings",
    "OutboxSettings",
    "SalesforceSettings",
    "Settings",
    "SyncSettings",
    "load_settings",
]

AuthFlow = Literal["password", "refresh_token", "client_credentials", "jwt"]

#: credentials each OAuth flow needs (the password flow's security token is optional:
#: orgs with trusted IP ranges do without it)
REQUIRED_CREDENTIALS: dict[str, tuple[str, ...]] = {
    "password": ("username", "password", "client_id", "client_secret"),
    "refresh_token": ("refresh_token", "client_id"),
    "client_credentials": ("client_id", "client_secret"),
    "jwt": ("client_id", "username", "private_key_file"),
}
SECRET_FIELDS = ("password", "security_token", "client_secret", "refresh_token")
_API_VERSION = re.compile(r"^\d{2,3}\.0$")
_DB_SCHEMES = ("sqlite", "postgresql", "postgresql+psycopg")
_MASK = "********"


class _Strict(BaseModel):
    # allow_inf_nan: "nan" or "inf" from an environment variable is not a number either.
    model_config = ConfigDict(extra="forbid", populate_by_name=True, allow_inf_nan=False)


def _blank_to_none(value: Any) -> Any:
    """``${VAR:-}`` leaves an empty string: treat it as "not given"."""
    return None if isinstance(value, str) and value.strip() == "" else value


class SalesforceSettings(_Strict):
    """The ``salesforce:`` section: where and how to log in, timeouts, the API budget."""

    login_url: str
    auth: AuthFlow = "password"
    username: str | None = None
    password: str | None = Field(default=None, repr=False)
    security_token: str | None = Field(default=None, repr=False)
    client_id: str | None = None
    client_secret: str | None = Field(default=None, repr=False)
    refresh_token: str | None = Field(default=None, repr=False)
    private_key_file: Path | None = None
    api_version: str = "62.0"
    ca_bundle: Path | None = None
    connect_timeout: float = Field(default=10.0, gt=0)
    read_timeout: float = Field(default=120.0, gt=0)
    api_budget: float = 0.8
    max_attempts: int = Field(default=6, ge=1, le=20)
    backoff_max_seconds: float = Field(default=60.0, gt=0)
    # The Pub/Sub API (Change Data Capture, `sync.push: cdc`): host:port, gRPC over TLS.
    pubsub_endpoint: str = "api.pubsub.salesforce.com:7443"

    @field_validator("pubsub_endpoint", mode="before")
    @classmethod
    def _endpoint(cls, value: Any) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            return "api.pubsub.salesforce.com:7443"
        text = str(value).strip()
        host, sep, port = text.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) <= 65535:
            raise ValueError(
                f'must be HOST:PORT such as "api.pubsub.salesforce.com:7443" (got {text!r})'
            )
        return text

    @field_validator(
        "username",
        "password",
        "security_token",
        "client_id",
        "client_secret",
        "refresh_token",
        "private_key_file",
        "ca_bundle",
        mode="before",
    )
    @classmethod
    def _optional(cls, value: Any) -> Any:
        return _blank_to_none(value)

    @field_validator("login_url")
    @classmethod
    def _https(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme != "https" or not parts.hostname:
            raise ValueError(
                f"must be an https:// URL such as https://login.salesforce.com, "
                f"https://test.salesforce.com or https://MyDomain.my.salesforce.com "
                f"(got {redact_url(value)!r})"
            )
        return value.strip().rstrip("/")

    @field_validator("api_version", mode="before")
    @classmethod
    def _version(cls, value: Any) -> Any:
        text = str(value).strip().lstrip("vV") if isinstance(value, (str, int, float)) else value
        if not isinstance(text, str) or not _API_VERSION.match(text):
            raise ValueError(f'must be an API version like "62.0" (got {value!r})')
        return text

    @field_validator("api_budget")
    @classmethod
    def _budget(cls, value: float) -> float:
        if not 0 < value <= 1:
            raise ValueError(
                f"must be a fraction of the daily API allowance in (0, 1], such as 0.8 "
                f"(got {value})"
            )
        return value


class LeaseSettings(_Strict):
    """``database.lease``: the single-writer lease (invariant 7, docs/architecture.md)."""

    # A holder that has not renewed for this long may be replaced by a standby; a holder
    # frozen inside a transaction loses its PostgreSQL session after max(this, 5 s).
    duration_seconds: float = Field(default=15.0, gt=0, le=3600)
    # The holder's heartbeat renews it this often (keep it well below duration_seconds).
    renew_seconds: float = Field(default=5.0, gt=0, le=3600)

    @model_validator(mode="after")
    def _renew_below_duration(self) -> LeaseSettings:
        if self.renew_seconds >= self.duration_seconds:
            raise ValueError(
                f"renew_seconds ({self.renew_seconds:g}) must be below duration_seconds "
                f"({self.duration_seconds:g}), a third of it or less"
            )
        return self


class DatabaseSettings(_Strict):
    """The ``database:`` section: the local store."""

    url: str = "sqlite:///prm.db"
    lease: LeaseSettings = Field(default_factory=LeaseSettings)

    @field_validator("url")
    @classmethod
    def _scheme(cls, value: str) -> str:
        scheme = value.split("://", 1)[0] if "://" in value else ""
        if scheme not in _DB_SCHEMES:
            raise ValueError(
                "must start with sqlite:///, postgresql:// or postgresql+psycopg:// "
                f"(got scheme {scheme or 'none'!r})"
            )
        return value

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        yield "url", redact_url(self.url)


PushSource = Literal["outbound", "cdc"]


class SyncSettings(_Strict):
    """The ``sync:`` section: cursor safety margins, batch sizes and schedules."""

    lag_seconds: int = Field(default=300, ge=0)
    signpost_skew_seconds: int = Field(default=2, ge=0)
    bulk_threshold: int = Field(default=10000, ge=1)
    page_size: int = Field(default=2000, ge=200, le=2000)
    poll_interval_seconds: int = Field(default=60, ge=1)
    reconcile_cron: str = "0 3 * * *"
    deleted_lookback_days: int = Field(default=14, ge=1, le=15)
    deleted_check_seconds: int = Field(default=3600, ge=0)
    # How `run` hears of changes between polls: Outbound Messages (and signed webhooks) on the
    # receiver, Change Data Capture over the Pub/Sub API, or both.
    push: list[PushSource] = Field(default_factory=lambda: list[PushSource](["outbound"]))
    # After a CDC gap it cannot fill from events (overflow, a replay id past retention or
    # refused, the delivery allocation used up): poll again from the last change seen minus
    # this margin.
    cdc_repoll_margin_seconds: int = Field(default=300, ge=0)

    @field_validator("push", mode="before")
    @classmethod
    def _push(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [v.strip() for v in value.replace("+", ",").split(",") if v.strip()]
        if isinstance(value, list) and not value:
            raise ValueError('must name outbound, cdc or both (e.g. "cdc" or [outbound, cdc])')
        return value

    @field_validator("reconcile_cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        if len(value.split()) != 5:
            raise ValueError(
                f'must be a 5-field cron expression such as "0 3 * * *" (got {value!r})'
            )
        return value


class DaemonSettings(_Strict):
    """The ``daemon:`` section: the receiver's address and secrets, and the job intervals."""

    listen: str = "127.0.0.1:8080"
    # Outbound Messages: required in the path (/salesforce/outbound/SECRET) or as the HTTP
    # Basic password when set.
    outbound_secret: str | None = Field(default=None, repr=False)
    # Signed webhooks (POST /events): the HMAC-SHA256 key; /events is off while unset.
    webhook_secret: str | None = Field(default=None, repr=False)
    # Key rotation: secrets still accepted on /events besides webhook_secret (connector.signing).
    webhook_previous_secrets: list[str] = Field(default_factory=list, repr=False)
    webhook_tolerance_seconds: int = Field(default=300, ge=1)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    # Slow clients are shed: the request head must arrive within header_timeout_seconds, the
    # body within body_timeout_seconds; an idle keep-alive connection closes after
    # keep_alive_seconds; past max_connections the oldest connection still waiting for its
    # request head is closed to make room.
    header_timeout_seconds: float = Field(default=10.0, gt=0)
    body_timeout_seconds: float = Field(default=30.0, gt=0)
    keep_alive_seconds: float = Field(default=5.0, gt=0)
    max_connections: int = Field(default=256, ge=8)
    outbox_interval_seconds: float = Field(default=10.0, gt=0)
    # Unprocessed notifications (a fetch that failed) are retried this often.
    push_retry_seconds: float = Field(default=30.0, gt=0)
    # A standby tries to take the store's lease this often (backing off while the store is
    # unreachable).
    standby_retry_seconds: float = Field(default=1.0, gt=0)
    # A job without a sign of life for this long (a rule stuck in CEL, a hung call) makes the
    # leader wedged: /readyz answers 503.
    wedged_seconds: float = Field(default=60.0, gt=0)
    # And, when true, the wedged leader stops renewing its lease: a standby takes over within
    # database.lease.duration_seconds and the wedged one is fenced off. Off by default: a long
    # step without progress reports (waiting for a large Bulk API job) would hand the lease
    # back and forth.
    wedged_failover: bool = False

    @field_validator("outbound_secret", "webhook_secret", mode="before")
    @classmethod
    def _optional(cls, value: Any) -> Any:
        return _blank_to_none(value)

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        return _check_listen(value)


def _check_listen(value: str) -> str:
    host, sep, port = value.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f'must be HOST:PORT such as "127.0.0.1:8080" (got {value!r})')
    return value.strip()
class OutboxSettings(_Strict):
    """The ``outbox:`` section: how write-backs to Salesforce are batched and retried."""

    # At or above this many pending writes of one object and operation: Bulk API 2.0 ingest.
    bulk_threshold: int = Field(default=2000, ge=1)
    # Records claimed, sent and recorded per transaction below the threshold (Collections
    # calls carry 200 each; records failing on row locks are retried together, by parent).
    claim_records: int = Field(default=1000, ge=1, le=100_000)
    # Rows per Bulk API 2.0 ingest job.
    bulk_job_size: int = Field(default=10000, ge=1, le=150_000_000)
    # Dispatches a write survives transient failures for before it goes to the dead letter.
    max_attempts: int = Field(default=10, ge=1, le=100)
    # First wait before a failed write is tried again (doubles each attempt, capped at 1 hour).
    retry_base_seconds: float = Field(default=30.0, ge=0)
    # While Salesforce is unavailable (5xx, timeouts, maintenance) the dispatcher pauses,
    # counting no attempt; the pause doubles from retry_base_seconds up to this.
    outage_pause_max_seconds: float = Field(default=300.0, gt=0)
    # Seconds a webhook (notify) may take to answer.
    notify_timeout_seconds: float = Field(default=10.0, gt=0)


class OpsSettings(_Strict):
    """The ``ops:`` section: the operations page (``ops`` and ``run`` under /ops/)."""

    # Where `prm-connector ops` listens; any address other than loopback needs ``token``.
    listen: str = "127.0.0.1:8765"
    # Bearer token for scripts and the login form's password; required off loopback.
    token: str | None = Field(default=None, repr=False)
    # Seconds a login cookie stays valid.
    session_seconds: int = Field(default=8 * 3600, ge=60)

    @field_validator("token", mode="before")
    @classmethod
    def _optional(cls, value: Any) -> Any:
        return _blank_to_none(value)

    @field_validator("token")
    @classmethod
    def _long_enough(cls, value: str | None) -> str | None:
        if value is not None and len(value) < 16:
            raise ValueError("must be at least 16 characters (a random string, e.g. from "
                             "`python3 -c 'import secrets; print(secrets.token_urlsafe())'`)")
        return value

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        return _check_listen(value)


#: a stand-in for the salesforce: section of commands that read the store alone
_NO_SALESFORCE = SalesforceSettings.model_construct(login_url="")


class Settings(_Strict):
    """Everything in connector.yaml; relative paths are resolved against ``base_dir``."""

    salesforce: SalesforceSettings
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    mapping_path: Path = Field(default=Path("mapping.yaml"), alias="mapping")
    triggers_path: Path = Field(default=Path("triggers.yaml"), alias="triggers")
    # None: programs.yaml next to connector.yaml when it exists, else no programs configured
    programs_path: Path | None = Field(default=None, alias="programs")
    sync: SyncSettings = Field(default_factory=SyncSettings)
    daemon: DaemonSettings = Field(default_factory=DaemonSettings)
    outbox: OutboxSettings = Field(default_factory=OutboxSettings)
    ops: OpsSettings = Field(default_factory=OpsSettings)
    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)
    _store_only: bool = PrivateAttr(default=False)

    @property
    def store_only(self) -> bool:
        """True when loaded without the salesforce: section (a command over the store alone)."""
        return self._store_only

    @property
    def base_dir(self) -> Path:
        """The folder of connector.yaml."""
        return self._base_dir

    def redacted(self) -> dict[str, Any]:
        """A JSON-ready dict for ``status`` and logs, with secrets masked."""
        data = self.model_dump(mode="json", by_alias=False)
        data["base_dir"] = str(self.base_dir)
        sf = data["salesforce"]
        for name in SECRET_FIELDS:
            if sf.get(name):
                sf[name] = _MASK
        if sf.get("login_url"):
            sf["login_url"] = redact_url(str(sf["login_url"]))
        data["database"]["url"] = redact_url(self.database.url)
        for name in ("outbound_secret", "webhook_secret"):
            if data["daemon"].get(name):
                data["daemon"][name] = _MASK
        data["daemon"]["webhook_previous_secrets"] = [
            _MASK for _ in data["daemon"].get("webhook_previous_secrets") or ()
        ]
        if data["ops"].get("token"):
            data["ops"]["token"] = _MASK
        return data


def load_settings(
    path: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    *,
    store_only: bool = False,
) -> Settings:
    """Read connector.yaml (``path``, else ``$PRM_CONFIG``, else ./connector.yaml).

    Raises ``ConfigError`` listing every problem found, each as ``file:line:col: message``.
    ``store_only``: the command reads the store alone (status, outbox list, ops ...), so the
    ``salesforce:`` section is neither read nor checked and its variables need not be set.
    """
    environ: Mapping[str, str] = os.environ if env is None else env
    file = Path(path or environ.get("PRM_CONFIG") or "connector.yaml")
    loc = yamlconf.load(file)
    if not isinstance(loc.data, dict):
        raise ConfigError(
            [loc.problem((), "connector.yaml must be a mapping with a 'salesforce:' section")]
        )
    if not loc.data:
        raise ConfigError(
            [
                loc.problem(
                    (),
                    "the file is empty: it needs at least a 'salesforce:' section "
                    "with login_url (run `prm-connector init DIR` for a commented example)",
                )
            ]
        )
    env_problems = yamlconf.interpolate_env(
        loc, environ, skip=("salesforce",) if store_only else ()
    )
    if store_only:
        section = loc.data.get("salesforce")
        budget = section.get("api_budget") if isinstance(section, dict) else None
        loc.data["salesforce"] = _NO_SALESFORCE.model_copy(
            update={"api_budget": budget} if isinstance(budget, float) and 0 < budget <= 1
            else {})
    base_dir = file.resolve().parent
    try:
        settings = Settings.model_validate(loc.data)
    except ValidationError as err:
        problems = yamlconf.problems_from_validation(err, loc, Settings)
    else:
        settings._base_dir = base_dir
        settings._store_only = store_only
        problems = _resolve_and_check(settings, loc)
    # a value emptied by a missing variable would be reported twice: keep the variable's line
    taken = {(p.line, p.column) for p in env_problems}
    problems = env_problems + [p for p in problems if (p.line, p.column) not in taken]
    if problems:
        raise ConfigError(problems)
    return settings


def _resolve_and_check(settings: Settings, loc: yamlconf.Located) -> list[ConfigProblem]:
    """Checks that span fields or touch the disk; resolves relative paths in place."""
    problems: list[ConfigProblem] = []
    sf = settings.salesforce
    base = settings.base_dir
    section = ("salesforce",)

    for name in () if settings.store_only else REQUIRED_CREDENTIALS[sf.auth]:
        if getattr(sf, name) is None:
            needed = ", ".join(REQUIRED_CREDENTIALS[sf.auth])
            message = (
                f"salesforce.{name} is required for auth: {sf.auth} (that flow needs {needed})"
            )
            # at the emptied value, else at `auth:`, else at the `salesforce:` key
            for where in ((*section, name), (*section, "auth")):
                if where in loc.marks:
                    problems.append(loc.problem(where, message))
                    break
            else:
                problems.append(loc.problem(section, message, key=True))

    if sf.private_key_file is not None:
        sf.private_key_file = _under(base, sf.private_key_file)
        if not sf.private_key_file.is_file():
            problems.append(
                loc.problem(
                    (*section, "private_key_file"),
                    f"salesforce.private_key_file: no such file {sf.private_key_file} "
                    "(the PEM private key of the connected app's certificate)",
                )
            )
    if sf.ca_bundle is not None:
        sf.ca_bundle = _under(base, sf.ca_bundle)
        if not sf.ca_bundle.is_file():
            problems.append(
                loc.problem(
                    (*section, "ca_bundle"),
                    f"salesforce.ca_bundle: no such file {sf.ca_bundle} "
                    "(a PEM CA bundle; leave it empty to use the system's CAs)",
                )
            )

    for key, attr in (("mapping", "mapping_path"), ("triggers", "triggers_path")):
        resolved = _under(base, getattr(settings, attr))
        setattr(settings, attr, resolved)
        if not resolved.is_file():
            problems.append(
                loc.problem(
                    (key,),
                    f"{key}: no such file {resolved} (paths are relative to connector.yaml's "
                    "folder; `prm-connector init DIR` writes a default one)",
                )
            )

    if settings.programs_path is not None:
        settings.programs_path = _under(base, settings.programs_path)
        if not settings.programs_path.is_file():
            problems.append(
                loc.problem(
                    ("programs",),
                    f"programs: no such file {settings.programs_path} (paths are relative to "
                    "connector.yaml's folder; `prm-connector init DIR` writes a default one)",
                )
            )
    elif (base / "programs.yaml").is_file():
        settings.programs_path = base / "programs.yaml"

    settings.database.url = _resolve_sqlite(settings.database.url, base)
    return problems


def _under(base: Path, path: Path) -> Path:
    path = path.expanduser()
    return path if path.is_absolute() else base / path


def _resolve_sqlite(url: str, base: Path) -> str:
    """``sqlite:///prm.db`` means prm.db next to connector.yaml, not in the current folder."""
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        return url
    rest = url[len(prefix) :]
    if rest in ("", ":memory:") or rest.startswith("/"):
        return url
    return prefix + str(base / rest)
