"""salesforce/ (permission set and CDC selection included) converts with Salesforce's own
source-deploy-retrieve, the library under `sf project convert source` and `sf project deploy
start`: every file is recognised as the metadata type we mean, and the Metadata API package it
builds holds them all. The library is pinned by tests/emulator/sdr/package-lock.json and
installed there by .ci/run (`npm ci`); without node the test cannot run and says so."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from defusedxml import ElementTree

from connector.emulator.metadata import NS, REPO_ROOT

SDR = Path(__file__).parent / "sdr"
DEFAULT = REPO_ROOT / "force-app" / "main" / "default"
SUFFIX = {  # source folder -> (metadata type, file suffix)
    "permissionsets": ("PermissionSet", ".permissionset-meta.xml"),
    "platformEventChannelMembers": ("PlatformEventChannelMember",
                                    ".platformEventChannelMember-meta.xml"),
}


def _installed() -> None:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node/npm not on PATH (.ci/run needs them)")
    if (SDR / "node_modules" / "@salesforce" / "source-deploy-retrieve").is_dir():
        return
    try:
        subprocess.run(["npm", "ci", "--prefix", str(SDR), "--no-audit", "--no-fund"],
                       check=True, capture_output=True, timeout=300)
    except (subprocess.SubprocessError, OSError) as exc:
        pytest.skip(f"could not install source-deploy-retrieve: {exc}")


def _expected() -> set[str]:
    """The components the files on disk are: custom objects, their fields, the rest."""
    out: set[str] = set()
    for obj in (DEFAULT / "objects").iterdir():
        if (obj / f"{obj.name}.object-meta.xml").exists():
            out.add(f"CustomObject:{obj.name}")
        for field in (obj / "fields").glob("*.field-meta.xml"):
            out.add(f"CustomField:{obj.name}.{field.name.removesuffix('.field-meta.xml')}")
    for folder, (kind, suffix) in SUFFIX.items():
        for path in (DEFAULT / folder).glob(f"*{suffix}"):
            out.add(f"{kind}:{path.name.removesuffix(suffix)}")
    return out


def test_source_deploy_retrieve_converts_the_metadata(tmp_path: Path) -> None:
    _installed()
    done = subprocess.run(["node", str(SDR / "convert.cjs"), str(REPO_ROOT), str(tmp_path)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert set(result["components"]) == _expected()
    assert "PermissionSet:PRM_Connector_Integration" in result["components"]
    package = ElementTree.parse(tmp_path / "package.xml").getroot()
    version = package.find(NS + "version")
    assert version is not None and version.text == "62.0" == result["version"]
    members = {f"{t.findtext(NS + 'name')}:{m.text}" for t in package.findall(NS + "types")
               for m in t.findall(NS + "members")}
    assert members == set(result["components"])
    # The converted permission set is the one we wrote, field for field.
    source = ElementTree.parse(DEFAULT / "permissionsets" /
                               "PRM_Connector_Integration.permissionset-meta.xml").getroot()
    built = ElementTree.parse(tmp_path / "permissionsets" /
                              "PRM_Connector_Integration.permissionset").getroot()

    def grants(root: Any) -> set[tuple[str | None, ...]]:
        return {(f.findtext(NS + "field"), f.findtext(NS + "readable"),
                 f.findtext(NS + "editable")) for f in root.findall(NS + "fieldPermissions")}

    assert grants(built) == grants(source) and len(grants(source)) > 30
    # Fields are folded into their object's file, as the Metadata API wants them.
    account = ElementTree.parse(tmp_path / "objects" / "Account.object").getroot()
    names = {f.findtext(NS + "fullName") for f in account.findall(NS + "fields")}
    assert "Partner_Tier__c" in names
