"""The supervisor's releases (node/supervisor.py): only the approved artifact is installed.

Real files and real zip archives; the whole switch with real nodes is tests/e2e/test_upgrade.py.
"""

import hashlib
import io
import json
import zipfile
from pathlib import Path

import pytest

from chain.errors import LocalFault
from node.config import Home
from node.release import VERSION
from node.supervisor import (
    ReleaseRefused,
    Releases,
    Supervisor,
    UpgradeInfo,
    fetch,
    read_upgrade_info,
)

NEXT = "9.9.9"


def wheel(version: str, distribution: str = "gridchain") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("node/__init__.py", f"RELEASE = {version!r}\n")
        archive.writestr(
            f"{distribution}-{version}.dist-info/METADATA",
            f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {version}\n",
        )
    return buffer.getvalue()


def info(artifact: bytes, version: str = NEXT) -> UpgradeInfo:
    return UpgradeInfo("next", 100, version, hashlib.sha256(artifact).hexdigest(), "file:///x")


def test_the_approved_artifact_is_installed_and_made_current(tmp_path: Path) -> None:
    releases = Releases(Home(tmp_path))
    assert releases.current() == VERSION and releases.has(info(b"", VERSION))
    artifact = wheel(NEXT)
    releases.install(info(artifact), artifact)
    folder = releases.folder(NEXT)
    assert folder is not None and (folder / "node" / "__init__.py").exists()
    assert releases.has(info(artifact)) and releases.current() == VERSION  # not yet current
    # A later plan naming the same version with another artifact is not this one.
    assert not releases.has(info(artifact + b"other"))
    releases.set_current(NEXT)
    assert releases.current() == NEXT


@pytest.mark.parametrize(
    ("artifact", "version", "message"),
    [
        (wheel(NEXT) + b"\0", NEXT, "has sha256"),
        (wheel("1.2.3"), NEXT, "declares version '1.2.3'"),
        (wheel(NEXT, "othercoin"), NEXT, "not a wheel of the gridchain distribution"),
        (b"not a zip", NEXT, "not a wheel"),
    ],
    ids=["changed bytes", "another version", "another distribution", "not a zip"],
)
def test_anything_else_is_refused_and_nothing_is_installed(
    tmp_path: Path, artifact: bytes, version: str, message: str
) -> None:
    releases = Releases(Home(tmp_path))
    approved = info(wheel(NEXT)) if message == "has sha256" else info(artifact, version)
    with pytest.raises(ReleaseRefused, match=message):
        releases.install(approved, artifact)
    assert not releases.has(approved) and releases.current() == VERSION
    assert not (tmp_path / "releases" / NEXT).exists()


def test_fetch_reads_files_and_refuses_other_schemes(tmp_path: Path) -> None:
    artifact = tmp_path / "release.whl"
    artifact.write_bytes(b"bytes")
    assert fetch(artifact.as_uri()) == b"bytes"
    with pytest.raises(ReleaseRefused, match="not an http"):
        fetch("ftp://example.org/release.whl")
    with pytest.raises(LocalFault, match="cannot fetch"):
        fetch((tmp_path / "missing.whl").as_uri())


def test_upgrade_info_files(tmp_path: Path) -> None:
    path = tmp_path / "upgrade-info.json"
    assert read_upgrade_info(path) is None
    path.write_text(
        json.dumps(
            {
                "name": "up",
                "height": 5,
                "version": NEXT,
                "sha256": "ab",
                "url": "file:///w",
                "running": VERSION,
            }
        )
    )
    assert read_upgrade_info(path) == UpgradeInfo("up", 5, NEXT, "ab", "file:///w")
    path.write_text("{}")
    with pytest.raises(LocalFault, match="not an upgrade-info file"):
        read_upgrade_info(path)


def test_the_genesis_release_comes_only_from_the_operators_wheel(tmp_path: Path) -> None:
    """The genesis file names its release by version alone: no hash, no URL on chain."""
    genesis = UpgradeInfo("genesis", 1, NEXT, "00" * 32, "")
    assert not genesis.approved and info(b"x").approved
    supervisor = Supervisor(Home(tmp_path), lambda event: None)
    with pytest.raises(ReleaseRefused, match="has no URL on chain"):
        supervisor.artifact(genesis)
    given = tmp_path / "given.whl"
    given.write_bytes(wheel(NEXT))
    other = tmp_path / "other.whl"
    other.write_bytes(wheel("1.2.3"))
    supervisor = Supervisor(Home(tmp_path), lambda event: None, artifacts=(other, given))
    assert supervisor.artifact(genesis) == given.read_bytes()
    supervisor.releases.install(genesis, supervisor.artifact(genesis))
    assert supervisor.releases.has(genesis)
