"""The operations page over HTTP: who may use it, how POSTs are protected, what is escaped,
paging, the operator's actions and their audit, and JSON twins equal to the CLI's --json."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from typing import Any

import pytest

from web.opsfixtures import HOSTILE_ERROR, HOSTILE_NAME, NO_SF_ENV, copy_demo, ops_client

from clirunner import invoke

TOKEN = "s3cret-token-for-the-ops-page"
ORIGIN = "http://127.0.0.1:8765"
JSON = {"accept": "application/json"}


@pytest.fixture
def client(ops_config: Path) -> Iterator[Any]:
    yield from ops_client(ops_config)


@pytest.fixture
def token_client(demo_store: Path, tmp_path: Path) -> Iterator[Any]:
    config = copy_demo(demo_store, tmp_path / "tok", token=TOKEN)
    yield from ops_client(config, peer="10.1.2.3", base_url="http://ops.example:8765")


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF token in the form"
    return found.group(1)


def _dead(client: Any) -> list[dict[str, Any]]:
    return client.get("/ops/outbox?status=dead", headers=JSON).json()["items"]


def _post(client: Any, path: str, data: dict[str, str], origin: str | None = ORIGIN) -> Any:
    headers = {"origin": origin} if origin else {}
    return client.post(path, data=data, headers=headers)


# --- who may use it -------------------------------------------------------------------------
def test_loopback_needs_no_token_but_refuses_other_peers_and_rebound_hosts(
        ops_config: Path) -> None:
    for client in ops_client(ops_config):
        assert client.get("/ops/").status_code == 200
        # a page reached through another name (DNS rebinding) is refused
        assert client.get("/ops/", headers={"host": "evil.example"}).status_code == 403
    for client in ops_client(ops_config, peer="192.0.2.7"):
        res = client.get("/ops/")
        assert res.status_code == 403 and "ops.token" in res.text


def test_off_loopback_without_a_token_ops_refuses_to_start_naming_the_setting(
        ops_config: Path) -> None:
    res = invoke("-c", str(ops_config), "ops", "--listen", "0.0.0.0:0", env=NO_SF_ENV)
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "ops.token" in lines[0] and "0.0.0.0" in lines[0]


def test_with_a_token_pages_need_bearer_or_login(token_client: Any) -> None:
    res = token_client.get("/ops/outbox?status=dead")
    assert res.status_code == 303
    assert res.headers["location"].startswith("/ops/login?next=%2Fops%2Foutbox")
    assert token_client.get("/ops/", headers=JSON).status_code == 401
    bad = {"authorization": "Bearer not-the-token", **JSON}
    assert token_client.get("/ops/", headers=bad).status_code == 401
    good = {"authorization": f"Bearer {TOKEN}", **JSON}
    assert token_client.get("/ops/", headers=good).json()["outbox"]["dead"] == 3


def test_login_sets_a_signed_httponly_strict_cookie_and_a_forged_one_is_refused(
        token_client: Any) -> None:
    form = token_client.get("/ops/login?next=/ops/audit")
    assert form.status_code == 200
    origin = "http://ops.example:8765"
    data = {"csrf": _csrf(form.text), "next": "/ops/audit", "name": "Dana", "token": "wrong"}
    assert _post(token_client, "/ops/login", data, origin).status_code == 401
    assert "prm_ops" not in token_client.cookies
    res = _post(token_client, "/ops/login", {**data, "token": TOKEN}, origin)
    assert res.status_code == 303 and res.headers["location"] == "/ops/audit"
    cookie = res.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/ops" in cookie
    assert "Signed in as Dana" in token_client.get("/ops/audit").text
    # a cookie whose name was changed without the key no longer signs in
    value = token_client.cookies["prm_ops"]
    token_client.cookies.set("prm_ops", "x" + value[1:], path="/ops")
    assert token_client.get("/ops/audit").status_code == 303


def test_login_goes_back_only_to_a_page_of_this_site(token_client: Any) -> None:
    form = token_client.get("/ops/login")
    data = {"csrf": _csrf(form.text), "next": "//evil.example/ops/", "name": "Dana",
            "token": TOKEN}
    res = _post(token_client, "/ops/login", data, "http://ops.example:8765")
    assert res.status_code == 303 and res.headers["location"] == "/ops/"


# --- POSTs: CSRF, Origin, 405 ------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/ops/outbox/retry", "/ops/outbox/drop",
                                  "/ops/outbox/bulk-retry", "/ops/logout"])
def test_get_on_an_action_route_is_405(client: Any, path: str) -> None:
    assert client.get(path).status_code == 405


def test_a_post_needs_the_csrf_token_and_this_page_as_origin(client: Any) -> None:
    item = _dead(client)[0]["id"]
    csrf = _csrf(client.get("/ops/outbox?status=dead").text)
    assert _post(client, "/ops/outbox/retry", {"id": item}).status_code == 403
    assert _post(client, "/ops/outbox/retry", {"id": item, "csrf": "forged"}).status_code == 403
    for origin in ("http://evil.example", "null", None):
        res = _post(client, "/ops/outbox/retry", {"id": item, "csrf": csrf}, origin)
        assert res.status_code == 403, origin
    assert item in {i["id"] for i in _dead(client)}  # nothing happened
    res = _post(client, "/ops/outbox/retry", {"id": item, "csrf": csrf})
    assert res.status_code == 303
    assert item not in {i["id"] for i in _dead(client)}


def test_a_script_with_the_bearer_token_posts_without_csrf(token_client: Any) -> None:
    auth = {"authorization": f"Bearer {TOKEN}"}
    items = token_client.get("/ops/outbox?status=dead", headers={**auth, **JSON}).json()
    item = items["items"][0]["id"]
    res = token_client.post("/ops/outbox/retry", data={"id": item}, headers={**auth, **JSON})
    assert res.status_code == 200, res.text
    audit = token_client.get("/ops/audit", headers={**auth, **JSON}).json()["actions"]
    assert audit[0]["actor"] == "bearer token" and audit[0]["target"] == item


# --- escaping and headers ------------------------------------------------------------------
def test_salesforce_error_text_and_partner_names_are_escaped(client: Any) -> None:
    for path in ("/ops/outbox?status=dead", "/ops/dead"):
        page = client.get(path).text
        assert "<script>alert" not in page and "<b>bold</b>" not in page
        assert "&lt;script&gt;alert(&#34;sf&#34;)&lt;/script&gt;" in page
    partners = client.get("/ops/partners").text
    assert "<img src=x" not in partners and "&lt;img src=x onerror=alert(1)&gt;Evil" in partners
    hostile = next(p for p in client.get("/ops/partners", headers=JSON).json()
                   if p["name"] == HOSTILE_NAME)
    page = client.get(f"/ops/partners/{hostile['id']}")
    assert page.status_code == 200 and "<img src=x" not in page.text
    assert unescape(page.text).count(HOSTILE_NAME) >= 1
    groups = client.get("/ops/dead", headers=JSON).json()
    assert HOSTILE_ERROR in [g["message"] for g in groups]  # JSON keeps the text as it is


def test_every_page_sends_a_strict_csp_and_loads_nothing_from_elsewhere(client: Any) -> None:
    for path in ("/ops/", "/ops/outbox", "/ops/partners/1", "/ops/rules", "/ops/programs"):
        res = client.get(path)
        csp = res.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src" not in csp
        assert "frame-ancestors 'none'" in csp
        assert not re.search(r'(src|href)="(https?:)?//', res.text), path


# --- paging ----------------------------------------------------------------------------------
def test_outbox_pages_cover_every_item_once_and_the_last_has_no_next(client: Any) -> None:
    everything = client.get("/ops/outbox?limit=500", headers=JSON).json()["items"]
    seen: list[str] = []
    url = "/ops/outbox?limit=4"
    pages = 0
    while url:
        res = client.get(url, headers=JSON)
        seen += [i["id"] for i in res.json()["items"]]
        link = res.headers.get("link")
        url = link[1:link.index(">")] if link else ""
        pages += 1
        assert pages < 50
    assert seen == [i["id"] for i in everything]
    assert pages == -(-len(everything) // 4)
    html = client.get(f"/ops/outbox?limit=4&after={everything[-2]['id']}").text
    assert "Last page." in html and 'rel="next"' not in html


@pytest.mark.parametrize("limit", ["0", "-5", "abc", "100000"])
def test_odd_page_sizes_are_clamped(client: Any, limit: str) -> None:
    res = client.get(f"/ops/outbox?limit={limit}", headers=JSON)
    assert res.status_code == 200
    assert 1 <= len(res.json()["items"]) <= 500


def test_filters_combine(client: Any) -> None:
    code = "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    both = client.get(f"/ops/outbox?status=dead&error_code={code}", headers=JSON).json()
    assert len(both["items"]) == 2
    one = both["items"][0]
    narrowed = client.get(f"/ops/outbox?status=dead&error_code={code}&search={one['record']}",
                          headers=JSON).json()["items"]
    assert [i["id"] for i in narrowed] == [one["id"]]
    by_prefix = client.get(f"/ops/outbox?search={one['id'][:10]}", headers=JSON).json()
    assert [i["id"] for i in by_prefix["items"]] == [one["id"]]
    none = client.get(f"/ops/outbox?status=done&error_code={code}", headers=JSON).json()
    assert none["items"] == []


# --- actions and their audit ---------------------------------------------------------------
def test_drop_needs_a_reason_and_is_audited(client: Any) -> None:
    item = _dead(client)[0]["id"]
    csrf = _csrf(client.get("/ops/outbox?status=dead").text)
    assert _post(client, "/ops/outbox/drop", {"id": item, "csrf": csrf}).status_code == 400
    res = _post(client, "/ops/outbox/drop",
                {"id": item, "csrf": csrf, "reason": "fixed by hand in Salesforce"})
    assert res.status_code == 303
    dropped = client.get(f"/ops/outbox?search={item}", headers=JSON).json()["items"][0]
    assert dropped["status"] == "dropped" and dropped["reason"] == "fixed by hand in Salesforce"
    audit = client.get("/ops/audit", headers=JSON).json()["actions"]
    assert (audit[0]["action"], audit[0]["target"], audit[0]["reason"]) == (
        "drop", item, "fixed by hand in Salesforce")
    assert audit[0]["actor"].endswith("(loopback)")
    # a second drop of the same item is refused and not audited again
    again = _post(client, "/ops/outbox/drop", {"id": item, "csrf": csrf, "reason": "again"})
    assert again.status_code == 409
    assert client.get("/ops/audit", headers=JSON).json()["total"] == 1


def test_bulk_retry_asks_first_then_retries_only_what_was_shown(client: Any) -> None:
    page = client.get("/ops/outbox?status=dead").text
    form = dict(re.findall(r'<input type="hidden" name="(upto|count|csrf)" value="([^"]+)"',
                           page.split('action="/ops/outbox/bulk-retry"')[1].split("</form>")[0]))
    assert form["count"] == "3"
    ask = _post(client, "/ops/outbox/bulk-retry", form)
    assert ask.status_code == 200 and "Yes, retry 3 dead write(s)" in ask.text
    assert len(_dead(client)) == 3  # nothing retried before the confirmation
    # a write that dies after the page was shown is not part of the operator's choice
    late = client.get("/ops/outbox?status=done", headers=JSON).json()["items"][0]["id"]
    from sqlalchemy import text

    with client.rt.engine.begin() as conn:
        conn.execute(text("UPDATE outbox_item SET status='dead', error_code='LATE', "
                          "updated_at=CURRENT_TIMESTAMP WHERE id=:id"), {"id": late})
    done = _post(client, "/ops/outbox/bulk-retry", {**form, "confirm": "yes"})
    assert done.status_code == 303 and "queued+3" in done.headers["location"]
    assert [i["id"] for i in _dead(client)] == [late]
    audit = client.get("/ops/audit", headers=JSON).json()["actions"][0]
    assert audit["action"] == "retry_all" and len(audit["detail"]["ids"]) == 3


def test_bulk_retry_refuses_when_what_was_shown_changed(client: Any) -> None:
    page = client.get("/ops/outbox?status=dead").text
    form = dict(re.findall(r'<input type="hidden" name="(upto|count|csrf)" value="([^"]+)"',
                           page.split('action="/ops/outbox/bulk-retry"')[1].split("</form>")[0]))
    first = _dead(client)[0]["id"]
    assert _post(client, "/ops/outbox/retry", {"id": first, "csrf": form["csrf"]}
                 ).status_code == 303
    res = _post(client, "/ops/outbox/bulk-retry", {**form, "confirm": "yes"})
    assert res.status_code == 409 and "changed since it was shown" in res.text
    assert len(_dead(client)) == 2


# --- JSON twins ----------------------------------------------------------------------------
def _cli_json(config: Path, *args: str) -> Any:
    res = invoke("-c", str(config), *args, "--json", env=NO_SF_ENV)
    assert res.exit_code == 0, res.stderr
    return json.loads(res.stdout)


@pytest.mark.parametrize(("path", "command"), [
    ("/ops/", ["status"]),
    ("/ops/outbox", ["outbox", "list"]),
    ("/ops/outbox?status=dead", ["outbox", "list", "--status", "dead"]),
    ("/ops/conflicts", ["outbox", "conflicts"]),
    ("/ops/decisions", ["triggers", "log"]),
    ("/ops/decisions?rule=auto-approve-registration",
     ["triggers", "log", "--rule", "auto-approve-registration"]),
    ("/ops/partners/1", ["partner", "show", "1"]),
    ("/ops/partners/1/eligible", ["partner", "eligible", "1"]),
    ("/ops/programs", ["programs", "show"]),
    ("/ops/rules", ["triggers", "list"]),
    ("/ops/programs/segment?name=cloud-certified", ["segments", "preview", "cloud-certified"]),
])
def test_json_twins_equal_the_cli(client: Any, ops_config: Path, path: str,
                                  command: list[str]) -> None:
    page = client.get(path, headers=JSON)
    assert page.status_code == 200
    assert page.json() == _cli_json(ops_config, *command)


def test_a_live_rule_tried_as_a_draft_is_the_replay_of_triggers_replay(
        client: Any, ops_config: Path) -> None:
    form = client.get("/ops/rules/try?rule=auto-approve-registration").text
    draft = unescape(re.search(r"<textarea[^>]*>(.*?)</textarea>", form, re.S).group(1))
    assert draft.startswith("id: auto-approve-registration")
    res = client.get("/ops/rules/try", params={"draft": draft, "since": "2020-01-01"},
                     headers=JSON).json()
    replay = _cli_json(ops_config, "triggers", "replay", "--since", "2020-01-01", "--rule",
                       "auto-approve-registration")
    assert {k: res[k] for k in replay} == replay
    assert res["would_fire"] >= 2 and res["differences"] == []
    stricter = draft.replace("250000.0", "1.0")
    changed = client.get("/ops/rules/try", params={"draft": stricter, "since": "2020-01-01"},
                         headers=JSON).json()
    assert changed["differences"], "a stricter amount limit decides differently"
    assert "1.0" in changed["yaml"] and changed["yaml"].startswith("  - id: ")


def test_a_bad_draft_is_reported_at_its_own_line(client: Any) -> None:
    draft = "id: broken\nentity: deal_registration\non: [created]\nwhen: new.nope ==\n" \
            "actions:\n  - route_for_review: {reason: x}\n"
    res = client.get("/ops/rules/try", params={"draft": draft, "since": "2020-01-01"},
                     headers=JSON)
    assert res.status_code == 400 and "draft rule:4:" in res.json()["error"]
