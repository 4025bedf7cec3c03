"""Resources a connector may call beyond the basics, each as its page documents it:
composite/graph, composite/tree, OAuth revoke and userinfo, SOAP login's userInfo."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from defusedxml import ElementTree

from connector.emulator.testing import EmulatorHandle, running_emulator

V = "/services/data/v62.0"
PARTNER_NS = "{urn:partner.soap.sforce.com}"


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorHandle]:
    with running_emulator(seed="demo") as handle:
        yield handle


def _req(emu: EmulatorHandle, method: str, path: str, user: str = "integration",
         **kw: Any) -> requests.Response:
    return requests.request(method, f"{emu.instance_url}{path}",
                            headers={"Authorization": f"Bearer {emu.token(user)}"},
                            verify=emu.ca_bundle, timeout=60, **kw)


def _count(emu: EmulatorHandle, soql: str) -> int:
    return int(_req(emu, "GET", f"{V}/query", params={"q": soql}).json()["totalSize"])


def test_composite_graph_rolls_back_each_graph_alone(emu: EmulatorHandle) -> None:
    """https://developer.salesforce.com/docs/platform/api-rest/guide/resources-composite-graph.html:
    each graph is processed as a transaction; one graph's failure does not undo another."""
    good = {"graphId": "g1", "compositeRequest": [
        {"method": "POST", "url": f"{V}/sobjects/Account", "referenceId": "acct",
         "body": {"Name": "Graph Good Co"}},
        {"method": "POST", "url": f"{V}/sobjects/Contact", "referenceId": "who",
         "body": {"LastName": "Graph", "AccountId": "@{acct.id}"}},
    ]}
    bad = {"graphId": "g2", "compositeRequest": [
        {"method": "POST", "url": f"{V}/sobjects/Account", "referenceId": "acct",
         "body": {"Name": "Graph Bad Co"}},
        {"method": "POST", "url": f"{V}/sobjects/Contact", "referenceId": "who",
         "body": {"Nope": "x"}},
    ]}
    resp = _req(emu, "POST", f"{V}/composite/graph", json={"graphs": [good, bad]})
    assert resp.status_code == 200
    g1, g2 = resp.json()["graphs"]
    assert (g1["graphId"], g1["isSuccessful"], g2["isSuccessful"]) == ("g1", True, False)
    codes = [r["body"][0]["errorCode"] for r in g2["graphResponse"]["compositeResponse"]]
    assert codes == ["PROCESSING_HALTED", "INVALID_FIELD"]
    assert _count(emu, "SELECT Id FROM Account WHERE Name = 'Graph Good Co'") == 1
    assert _count(emu, "SELECT Id FROM Account WHERE Name = 'Graph Bad Co'") == 0


def test_composite_tree_creates_parents_with_children(emu: EmulatorHandle) -> None:
    """https://developer.salesforce.com/docs/platform/api-rest/guide/resources-composite-tree.html:
    201 with every record's referenceId and id; children get the parent's id."""
    body = {"records": [
        {"attributes": {"type": "Account", "referenceId": "ref1"}, "Name": "Tree Co",
         "Contacts": {"records": [
             {"attributes": {"type": "Contact", "referenceId": "ref2"}, "LastName": "Leaf"},
             {"attributes": {"type": "Contact", "referenceId": "ref3"}, "LastName": "Twig"},
         ]}},
    ]}
    resp = _req(emu, "POST", f"{V}/composite/tree/Account", json=body)
    assert resp.status_code == 201, resp.text
    out = resp.json()
    assert out["hasErrors"] is False
    ids = {r["referenceId"]: r["id"] for r in out["results"]}
    assert set(ids) == {"ref1", "ref2", "ref3"}
    kids = _req(emu, "GET", f"{V}/query", params={
        "q": f"SELECT LastName FROM Contact WHERE AccountId = '{ids['ref1']}'"}).json()
    assert sorted(r["LastName"] for r in kids["records"]) == ["Leaf", "Twig"]


def test_composite_tree_failure_rolls_back_the_whole_tree(emu: EmulatorHandle) -> None:
    body = {"records": [
        {"attributes": {"type": "Account", "referenceId": "top"}, "Name": "Doomed Tree Co",
         "Contacts": {"records": [
             {"attributes": {"type": "Contact", "referenceId": "bad"}, "FirstName": "No Last"},
         ]}},
    ]}
    resp = _req(emu, "POST", f"{V}/composite/tree/Account", json=body)
    assert resp.status_code == 400
    out = resp.json()
    assert out["hasErrors"] is True
    assert out["results"][0]["referenceId"] == "bad"
    assert out["results"][0]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert _count(emu, "SELECT Id FROM Account WHERE Name = 'Doomed Tree Co'") == 0


def test_userinfo_gives_openid_claims(emu: EmulatorHandle) -> None:
    """https://help.salesforce.com/s/articleView?id=xcloud.remoteaccess_using_userinfo_endpoint.htm
    (UserInfo endpoint): OpenID Connect claims of the token's user."""
    resp = _req(emu, "GET", "/services/oauth2/userinfo", user="partner")
    assert resp.status_code == 200
    body = resp.json()
    partner = emu.users["partner"]
    assert body["user_id"] == partner["id"] and body["preferred_username"] == partner["username"]
    assert body["organization_id"] == emu.organization_id
    assert body["sub"].endswith(f"/id/{emu.organization_id}/{partner['id']}")
    assert {"email", "name", "given_name", "family_name", "active", "urls"} <= set(body)


def test_revoke_ends_an_access_token_and_a_refresh_token(emu: EmulatorHandle) -> None:
    """https://developer.salesforce.com/docs/platform/mobile-sdk/guide/oauth-revoking-tokens.html:
    POST token=...; 200 on success, 400 invalid_token otherwise; a refresh token's revocation
    takes its access tokens with it."""
    token = emu.token("partner", fresh=True)
    url = f"{emu.login_url}/services/oauth2/revoke"
    ok = requests.post(url, data={"token": token}, verify=emu.ca_bundle, timeout=30)
    assert ok.status_code == 200
    after = requests.get(f"{emu.instance_url}{V}/limits", verify=emu.ca_bundle, timeout=30,
                         headers={"Authorization": f"Bearer {token}"})
    assert after.status_code == 401
    again = requests.post(url, data={"token": token}, verify=emu.ca_bundle, timeout=30)
    assert again.status_code == 400 and again.json()["error"] == "invalid_token"
    live = emu.token("partner", fresh=True)
    refresh = emu.users["partner"]["refresh_token"]
    assert requests.get(url, params={"token": refresh}, verify=emu.ca_bundle,
                        timeout=30).status_code == 200
    gone = requests.get(f"{emu.instance_url}{V}/limits", verify=emu.ca_bundle, timeout=30,
                        headers={"Authorization": f"Bearer {live}"})
    assert gone.status_code == 401
    grant = requests.post(f"{emu.login_url}/services/oauth2/token", verify=emu.ca_bundle,
                          timeout=30, data={"grant_type": "refresh_token",
                                            "refresh_token": refresh,
                                            "client_id": emu.client_id})
    assert grant.status_code == 400 and grant.json()["error"] == "invalid_grant"


USER_INFO_ORDER = [
    "accessibilityMode", "chatterExternal", "currencySymbol", "orgAttachmentFileSizeLimit",
    "orgDefaultCurrencyIsoCode", "orgDefaultCurrencyLocale", "orgDisallowHtmlAttachments",
    "orgHasPersonAccounts", "organizationId", "organizationMultiCurrency", "organizationName",
    "profileId", "roleId", "sessionSecondsValid", "userDefaultCurrencyIsoCode", "userEmail",
    "userFullName", "userId", "userLanguage", "userLocale", "userName", "userTimeZone",
    "userType", "userUiSkin",
]


def test_soap_login_user_info_follows_the_partner_wsdl_order(emu: EmulatorHandle) -> None:
    """https://developer.salesforce.com/docs/atlas.en-us.api.meta/api/sforce_api_calls_getuserinfo_getuserinforesult.htm
    and the partner WSDL's GetUserInfoResult sequence: clients that read by position find
    organizationId where the WSDL puts it."""
    user = emu.users["integration"]
    envelope = (
        '<?xml version="1.0" encoding="utf-8"?><env:Envelope '
        'xmlns:env="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:urn="urn:partner.soap.sforce.com"><env:Body><urn:login>'
        f"<urn:username>{user['username']}</urn:username>"
        f"<urn:password>{user['password']}</urn:password></urn:login></env:Body></env:Envelope>"
    )
    resp = requests.post(f"{emu.login_url}/services/Soap/u/62.0", data=envelope,
                         headers={"Content-Type": "text/xml", "SOAPAction": "login"},
                         verify=emu.ca_bundle, timeout=30)
    assert resp.status_code == 200
    info = ElementTree.fromstring(resp.content).find(f".//{PARTNER_NS}userInfo")
    assert info is not None
    assert [child.tag.removeprefix(PARTNER_NS) for child in info] == USER_INFO_ORDER
    assert info.findtext(f"{PARTNER_NS}organizationId") == emu.organization_id
    assert info[USER_INFO_ORDER.index("organizationId")].text == emu.organization_id
