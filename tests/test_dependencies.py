"""The package dependency rule of the design brief, checked on the source.

chain imports none of our packages; consensus and vm import chain; contracts_std uses vm (and
chain); genesis builds chain values; node and devnet sit on top. Only node and devnet do network
I/O.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS = ("chain", "consensus", "vm", "contracts_std", "genesis", "node", "devnet")
ALLOWED = {
    "chain": set(),
    "consensus": {"chain"},
    "vm": {"chain"},
    "contracts_std": {"chain", "vm"},
    "genesis": {"chain", "vm", "contracts_std"},
    "node": {"chain", "consensus", "vm", "contracts_std", "genesis", "devnet"},
    "devnet": {"chain", "consensus", "vm", "contracts_std", "genesis", "node"},
}
NETWORK_MODULES = {"socket", "aiohttp", "urllib.request", "http.client", "asyncio.streams", "ssl"}
NETWORK_ALLOWED = {"node", "devnet"}


def imported_modules(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
            found += [f"{node.module}.{alias.name}" for alias in node.names]
    return found


def package_files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", OURS)
def test_package_imports_only_what_it_may(package: str) -> None:
    assert (ROOT / package / "__init__.py").exists(), f"{package} is not a package"
    wrong = []
    for path in package_files(package):
        for module in imported_modules(path):
            top = module.split(".")[0]
            if top in OURS and top != package and top not in ALLOWED[package]:
                wrong.append(f"{path.relative_to(ROOT)} imports {module}")
    assert not wrong, "dependency rule broken:\n" + "\n".join(wrong)


@pytest.mark.parametrize("package", sorted(set(OURS) - NETWORK_ALLOWED))
def test_only_node_and_devnet_do_network_io(package: str) -> None:
    wrong = []
    for path in package_files(package):
        for module in imported_modules(path):
            if any(module == m or module.startswith(m + ".") for m in NETWORK_MODULES):
                wrong.append(f"{path.relative_to(ROOT)} imports {module}")
    assert not wrong, "network I/O outside node/ and devnet/:\n" + "\n".join(wrong)


def test_the_checker_sees_a_violation(tmp_path: Path) -> None:
    """Guard against a checker that can never fail."""
    sample = tmp_path / "x.py"
    sample.write_text("import node.api\nfrom aiohttp import web\n")
    assert "node.api" in imported_modules(sample)
    assert "aiohttp" in imported_modules(sample)
