"""connector.yaml loading: the broken-config corpus, the shipped default, redaction."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from connector.errors import ConfigError
from connector.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "config_corpus" / "settings"
CASES = sorted(CORPUS.glob("[0-9][0-9]-*.yaml"))
EXPECT = re.compile(r"^# expect: (\d+):(\d+): (.+)$")

PRM_ENV = {
    "PRM_SF_LOGIN_URL": "https://acme.my.salesforce.com",
    "PRM_SF_USERNAME": "integration@acme.example",
    "PRM_SF_PASSWORD": "s3cret-pw",
    "PRM_SF_CLIENT_ID": "3MVG9-client",
    "PRM_SF_CLIENT_SECRET": "client-secret-value",
}


def test_corpus_has_at_least_fifteen_cases() -> None:
    """The broken-config corpus is big enough to mean something."""
    assert len(CASES) >= 15


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_broken_config_is_reported_at_its_line_and_column(case: Path) -> None:
    """Given a broken connector.yaml, loading raises one ConfigError at the expected spot."""
    m = EXPECT.match(case.read_text().splitlines()[0])
    assert m, f"{case.name}: first line must be '# expect: LINE:COL: fragment'"
    line, col, fragment = int(m.group(1)), int(m.group(2)), m.group(3)
    with pytest.raises(ConfigError) as info:
        load_settings(case, env=dict(PRM_ENV))
    first = info.value.problems[0]
    assert (first.line, first.column) == (line, col), str(info.value)
    assert fragment in first.message
    assert first.file == str(case)
    assert str(info.value).startswith(f"{case}:{line}:{col}: ")


def _write_default(tmp_path: Path) -> Path:
    for name in ("connector.yaml",):
        shutil.copy(ROOT / "config" / name, tmp_path / name)
    (tmp_path / "mapping.yaml").write_text("entities: {}\n")
    (tmp_path / "triggers.yaml").write_text("triggers: []\n")
    return tmp_path / "connector.yaml"


def test_default_config_loads_from_prm_env_vars(tmp_path: Path) -> None:
    """The shipped connector.yaml takes its connection and store from PRM_* variables."""
    settings = load_settings(_write_default(tmp_path), env=dict(PRM_ENV))
    sf = settings.salesforce
    assert sf.login_url == "https://acme.my.salesforce.com"
    assert sf.username == "integration@acme.example"
    assert sf.auth == "password"
    assert sf.security_token is None
    assert sf.ca_bundle is None  # ${PRM_SF_CA_BUNDLE:-} unset -> system CAs
    assert settings.database.url == f"sqlite:///{tmp_path}/prm.db"
    assert settings.mapping_path == tmp_path / "mapping.yaml"
    assert settings.triggers_path == tmp_path / "triggers.yaml"
    assert settings.base_dir == tmp_path
    assert settings.sync.lag_seconds == 300
    assert settings.sync.push == ["outbound"]
    assert settings.salesforce.pubsub_endpoint == "api.pubsub.salesforce.com:7443"


def test_push_sources_and_the_pubsub_endpoint_come_from_config_and_env(tmp_path: Path) -> None:
    """sync.push takes outbound, cdc or both; PRM_SF_PUBSUB_ENDPOINT sets the endpoint."""
    path = _write_default(tmp_path)
    path.write_text(path.read_text().replace("  push: outbound", "  push: [outbound, cdc]"))
    env = {**PRM_ENV, "PRM_SF_PUBSUB_ENDPOINT": "127.0.0.1:7443"}
    settings = load_settings(path, env=env)
    assert settings.sync.push == ["outbound", "cdc"]
    assert settings.salesforce.pubsub_endpoint == "127.0.0.1:7443"
    path.write_text(path.read_text().replace("  push: [outbound, cdc]", "  push: cdc"))
    assert load_settings(path, env=env).sync.push == ["cdc"]


def test_default_config_honours_database_url_and_ca_bundle(tmp_path: Path) -> None:
    """PRM_DATABASE_URL and PRM_SF_CA_BUNDLE replace their defaults."""
    (tmp_path / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    env = {
        **PRM_ENV,
        "PRM_DATABASE_URL": "postgresql+psycopg://prm:pw@db/prm",
        "PRM_SF_CA_BUNDLE": "ca.pem",
    }
    settings = load_settings(_write_default(tmp_path), env=env)
    assert settings.database.url == "postgresql+psycopg://prm:pw@db/prm"
    assert settings.salesforce.ca_bundle == tmp_path / "ca.pem"


def test_default_config_without_env_names_each_missing_variable(tmp_path: Path) -> None:
    """Unset PRM_* variables are each reported, at their line, by name."""
    path = _write_default(tmp_path)
    env = {k: v for k, v in PRM_ENV.items() if k != "PRM_SF_USERNAME"}
    with pytest.raises(ConfigError) as info:
        load_settings(path, env=env)
    problems = info.value.problems
    assert len(problems) == 1, str(info.value)
    line = next(
        i for i, text in enumerate(path.read_text().splitlines(), 1) if "${PRM_SF_USERNAME}" in text
    )
    assert (problems[0].line, problems[0].column) == (line, 13)
    assert "PRM_SF_USERNAME" in problems[0].message

    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    assert len(info.value.problems) == 5
    assert all("environment variable PRM_SF_" in p.message for p in info.value.problems)


def test_every_problem_is_collected(tmp_path: Path) -> None:
    """Several mistakes in one file are all reported, in line order."""
    path = tmp_path / "connector.yaml"
    path.write_text(
        "salesforce:\n"
        "  login_url: http://x\n"
        "  api_budget: 2\n"
        "  api_version: latest\n"
        "database:\n"
        "  url: oracle://db\n"
        "sync:\n"
        "  lag_seconds: -1\n"
    )
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    assert [p.line for p in info.value.problems] == [2, 3, 4, 6, 8]


def test_path_falls_back_to_prm_config_then_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a path, $PRM_CONFIG is read, then ./connector.yaml."""
    path = _write_default(tmp_path)
    assert load_settings(env={**PRM_ENV, "PRM_CONFIG": str(path)}).base_dir == tmp_path
    monkeypatch.chdir(tmp_path)
    assert load_settings(env=dict(PRM_ENV)).salesforce.username == "integration@acme.example"
    monkeypatch.chdir(CORPUS.parent)
    with pytest.raises(ConfigError, match=r"connector\.yaml:1:1: file not found"):
        load_settings(env=dict(PRM_ENV))


def test_redacted_masks_every_secret(tmp_path: Path) -> None:
    """redacted() hides passwords, secrets, tokens and the database password."""
    env = {
        **PRM_ENV,
        "PRM_SF_SECURITY_TOKEN": "tok-123",
        "PRM_DATABASE_URL": "postgresql://prm:dbpass@db/prm",
    }
    settings = load_settings(_write_default(tmp_path), env=env)
    red = settings.redacted()
    text = repr(red) + repr(settings)
    for secret in ("s3cret-pw", "client-secret-value", "tok-123", "dbpass"):
        assert secret not in text
    assert red["salesforce"]["username"] == "integration@acme.example"
    assert red["salesforce"]["password"] == "********"
    assert red["database"]["url"] == "postgresql://prm:***@db/prm"
    assert red["base_dir"] == str(tmp_path)


def test_settings_can_be_built_in_code() -> None:
    """Tests and the CLI may build Settings directly, with defaults from the contract."""
    s = Settings.model_validate({"salesforce": {"login_url": "https://login.salesforce.com"}})
    assert s.salesforce.api_budget == 0.8
    assert s.salesforce.max_attempts == 6
    assert s.sync.page_size == 2000
    assert s.database.url == "sqlite:///prm.db"
