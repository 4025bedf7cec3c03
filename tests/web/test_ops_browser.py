"""The operations page in Debian's Chromium, driven by Playwright, on the demo's store: every
page opens, the demo's approved registration is found with its reason, dead writes are retried
and dropped, a bulk retry is confirmed, filters survive a reload, a draft rule is tried; an
axe-core scan (npm's axe-core, installed on demand into tests/web/.node) of every page finds no
serious or critical violation.

Skipped only when /usr/bin/chromium is absent (.ci/run installs it). A failing test leaves a
screenshot in $PRM_SCREENSHOT_DIR (default: test-screenshots/ at the repository's root)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from web.opsfixtures import copy_demo, ops_app

CHROMIUM = Path("/usr/bin/chromium")
NODE_PREFIX = Path(__file__).parent / ".node"
AXE = NODE_PREFIX / "node_modules" / "axe-core" / "axe.min.js"
ROOT = Path(__file__).resolve().parents[2]
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed "
                       "(apt-get install chromium; .ci/run does)"),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def server(demo_store: Path, tmp_path: Path) -> Iterator[str]:
    """The `ops` page served by uvicorn on a free loopback port over a copy of the demo."""
    from connector.daemon.http import HttpServer

    app, rt = ops_app(copy_demo(demo_store, tmp_path / "ops"))
    http = HttpServer(app, "127.0.0.1", 0)
    http.start()
    try:
        yield f"{http.url}/ops"
    finally:
        http.stop()
        rt.close()


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    context = browser.new_context()
    tab = context.new_page()
    errors: list[str] = []
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: errors.append(str(e)))
    tab.console_errors = errors
    yield tab
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        folder = Path(os.environ.get("PRM_SCREENSHOT_DIR") or ROOT / "test-screenshots")
        folder.mkdir(parents=True, exist_ok=True)
        shot = folder / f"{request.node.name}.png"
        tab.screenshot(path=str(shot), full_page=True)
        print(f"screenshot: {shot}")
    context.close()


def _nav_links(page: Any) -> list[str]:
    return [a.get_attribute("href") for a in page.locator("nav a").all()]


def test_every_page_opens_from_the_overview(page: Any, server: str) -> None:
    page.goto(f"{server}/")
    links = _nav_links(page)
    assert len(links) == 9
    for href in links:
        res = page.goto(f"{server.removesuffix('/ops')}{href}")
        assert res is not None and res.status == 200, href
        assert page.locator("h1").count() == 1
        # every table says what it is and scopes its headers
        for table in page.locator("table").all():
            assert table.locator("caption").count() == 1, href
        assert page.locator("th:not([scope])").count() == 0, href
        # every control has a label
        for control in page.locator("input:not([type=hidden]), select, textarea").all():
            cid = control.get_attribute("id")
            labelled = control.get_attribute("aria-label") or (
                cid and page.locator(f"label[for='{cid}']").count())
            assert labelled, f"{href}: unlabelled control {control.get_attribute('name')}"
    assert page.console_errors == []  # the CSP blocked nothing: the page loads nothing else


def test_the_demos_approved_registration_and_its_reason(page: Any, server: str) -> None:
    page.goto(f"{server}/")
    page.get_by_role("link", name="Decisions").first.click()
    page.wait_for_load_state()  # read the new page once it is parsed whole
    page.get_by_label("Rule").fill("auto-approve-registration")
    page.get_by_role("button", name="Show").click()
    page.wait_for_load_state()  # read the new page once it is parsed whole
    assert "rule=auto-approve-registration" in page.url
    approved = page.locator("tr.decision", has_text="approve_registration: done")
    assert approved.count() == 1
    text = approved.inner_text()
    assert "Certified partner, no conflicting registration" in text
    assert "fired (actions)" in text and "condition true" in text
    routed = page.locator("tr.decision", has_text="route_for_review: done")
    assert "conflicts with registration" in routed.inner_text()


def test_retry_one_dead_write_and_drop_another_with_a_reason(page: Any, server: str) -> None:
    page.goto(f"{server}/outbox?status=dead")
    rows = page.locator("tbody tr", has=page.get_by_role("button", name="Drop"))
    assert rows.count() == 3
    first = rows.nth(0).locator("th code").inner_text()
    rows.nth(0).get_by_role("button", name=re.compile("^Retry")).click()
    page.wait_for_load_state()  # read the new page once it is parsed whole
    assert f"queued {first} again" in page.locator("[role=status]").inner_text()
    assert page.locator(f"#item-{first}").count() == 0  # no longer among the dead
    second_row = page.locator("tbody tr", has=page.get_by_role("button", name="Drop")).nth(0)
    second = second_row.locator("th code").inner_text()
    second_row.get_by_label(f"Reason to drop {second}").fill("duplicate of a manual fix")
    second_row.get_by_role("button", name="Drop").click()
    page.wait_for_load_state()  # read the new page once it is parsed whole
    assert f"dropped {second}: duplicate of a manual fix" in page.locator(
        "[role=status]").inner_text()
    page.get_by_role("link", name="Audit").click()
    page.wait_for_load_state()  # read the new page once it is parsed whole
    audit = page.locator("tbody").inner_text()
    assert "retry" in audit and "drop" in audit and "duplicate of a manual fix" in audit


def test_bulk_retry_with_the_confirmation(page: Any, server: str) -> None:
    page.goto(f"{server}/outbox?status=dead")
    page.get_by_role("button", name="Retry these 3 dead writes…").click()
    page.wait_for_load_state()  # read the new page once it is parsed whole
    assert page.locator("h1").inner_text() == "Confirm bulk retry"
    page.get_by_role("button", name="Yes, retry 3 dead write(s)").click()
    page.wait_for_load_state()  # read the new page once it is parsed whole
    assert "queued 3 dead write(s) again" in page.locator("[role=status]").inner_text()
    page.goto(f"{server}/outbox?status=dead")
    assert "0 item(s) match" in page.locator("#matching").inner_text()


def test_filters_combine_and_live_in_the_url(page: Any, server: str) -> None:
    page.goto(f"{server}/outbox")
    page.get_by_label("Status").select_option("dead")
    page.get_by_label("Error code").fill("FIELD_CUSTOM_VALIDATION_EXCEPTION")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_load_state()  # read the new page once it is parsed whole
    assert "status=dead" in page.url and "error_code=FIELD_CUSTOM_VALIDATION_EXCEPTION" in page.url
    shown = page.locator("tbody th code").all_inner_texts()
    assert len(shown) == 2
    page.reload()
    assert page.locator("tbody th code").all_inner_texts() == shown
    assert page.get_by_label("Status").input_value() == "dead"
    assert page.get_by_label("Error code").input_value() == "FIELD_CUSTOM_VALIDATION_EXCEPTION"


def test_a_draft_rule_tried_against_history(page: Any, server: str) -> None:
    page.goto(f"{server}/rules")
    page.get_by_role("link", name="Try a change to auto-approve-registration").click()
    page.wait_for_load_state()  # read the new page once it is parsed whole
    draft = page.get_by_label("Draft rule (YAML)")
    assert draft.input_value().startswith("id: auto-approve-registration")
    draft.fill(draft.input_value().replace("250000.0", "1.0"))
    page.get_by_label("Changes recorded since").fill("2020-01-01")
    page.get_by_role("button", name="Try it against history").click()
    page.wait_for_load_state()  # read the new page once it is parsed whole
    summary = page.locator("#summary").inner_text()
    assert "auto-approve-registration: would fire" in summary and "the live rule fires" in summary
    diffs = page.locator("table", has=page.locator("caption", has_text="Differences"))
    assert "No difference" not in diffs.inner_text()
    assert "new.amount <= 1.0" in page.locator("#yaml").inner_text()


def _axe() -> str:
    if not AXE.exists():
        if shutil.which("npm") is None:
            pytest.skip("npm is not on PATH (axe-core comes from the npm registry)")
        try:
            subprocess.run(["npm", "install", "--no-save", "--prefix", str(NODE_PREFIX),
                            "axe-core"], check=True, capture_output=True, timeout=180)
        except (subprocess.SubprocessError, OSError) as exc:
            pytest.skip(f"could not install axe-core: {exc}")
    return AXE.read_text(encoding="utf-8")


def test_axe_finds_no_serious_violation_on_any_page(browser: Any, server: str) -> None:
    script = _axe()
    # the page's CSP forbids every script, so the scanner is let in by the test's browser only
    context = browser.new_context(bypass_csp=True)
    try:
        tab = context.new_page()
        tab.goto(f"{server}/")
        paths = [*_nav_links(tab), "/ops/partners/1", "/ops/outbox?status=dead",
                 "/ops/rules/try?rule=auto-approve-registration",
                 "/ops/programs/segment?name=cloud-certified"]
        found: dict[str, list[str]] = {}
        for href in paths:
            tab.goto(f"{server.removesuffix('/ops')}{href}")
            tab.add_script_tag(content=script)
            result = tab.evaluate(
                "async () => (await axe.run(document, {resultTypes: ['violations']}))"
                ".violations.map(v => [v.id, v.impact, v.nodes.length])")
            bad = [f"{rule} ({impact}, {n} nodes)" for rule, impact, n in result
                   if impact in ("serious", "critical")]
            if bad:
                found[href] = bad
        assert found == {}
    finally:
        context.close()


def test_keyboard_alone_skips_to_the_content_and_retries_a_write(page: Any, server: str) -> None:
    page.goto(f"{server}/outbox?status=dead")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.url.endswith("#main")
    # Tab from the content reaches the row's controls in order: its retry, then its drop
    page.get_by_role("button", name=re.compile("^Retry now")).first.focus()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.name") == "reason"
    page.keyboard.type("handled in Salesforce")
    page.keyboard.press("Enter")  # submits the drop form it belongs to
    assert "dropped" in page.locator("[role=status]").inner_text()
    assert "handled in Salesforce" in page.locator("[role=status]").inner_text()
