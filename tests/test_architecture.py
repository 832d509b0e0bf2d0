"""The architecture, checked on the source: layers, no import cycle, small modules.

The layers (docs/architecture.md), lowest first; a module may import its own layer's modules
of its own package, and anything in a lower layer, nothing else:

    0 chain                      rules, encodings, state, store
    1 consensus | vm             the BFT state machine; the contract VM (neither imports the other)
    2 contracts_std              the standard contracts
    3 genesis                    the genesis file
    4 node (services)            the application, API, peers, consensus reactor, farmer agent
    5 devnet                     a local network of node processes
    6 node.cli, node.bench       the entry points: the only modules that may import devnet

The import graph is built from the AST of every module, with imports inside functions and under
TYPE_CHECKING counted too, so a cycle cannot hide behind a late import.
"""

import ast
import re
from collections.abc import Iterable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("chain", "consensus", "vm", "contracts_std", "genesis", "node", "devnet")
LAYERS = {"chain": 0, "consensus": 1, "vm": 1, "contracts_std": 2, "genesis": 3, "node": 4}
LAYERS["devnet"] = 5
ENTRY_POINTS = ("node.cli", "node.bench", "node.__main__")
MAX_LINES = 800
NETWORK_MODULES = {"socket", "aiohttp", "urllib.request", "http.client", "asyncio.streams", "ssl"}
NETWORK_ALLOWED = {"node", "devnet"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def our_modules() -> dict[str, Path]:
    return {
        module_name(path): path
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
    }


def imports_of(path: Path, module: str, known: Iterable[str]) -> set[str]:
    """Every module of ours that `module` imports, wherever the import statement is."""
    names = set(known)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for target in targets:
            while target and target not in names:  # a name inside a module: the module
                target = target.rpartition(".")[0]
            if target and target != module:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = our_modules()
    return {name: imports_of(path, name, modules) for name, path in modules.items()}


def is_entry_point(module: str) -> bool:
    return any(module == p or module.startswith((p + ".", p + "_")) for p in ENTRY_POINTS)


def layer_of(module: str) -> int:
    if is_entry_point(module):
        return 6
    return LAYERS[module.split(".")[0]]


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    wrong = []
    for module, targets in sorted(graph.items()):
        for target in sorted(targets):
            low, high = layer_of(target), layer_of(module)
            same_package = target.split(".")[0] == module.split(".")[0]
            if low > high or (low == high and not same_package):
                wrong.append(f"{module} (layer {high}) imports {target} (layer {low})")
    return wrong


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_module_imports_up_a_layer() -> None:
    wrong = upward_imports(import_graph())
    assert not wrong, "imports that point up a layer:\n" + "\n".join(wrong)


def test_the_import_graph_has_no_cycle() -> None:
    found = cycles(import_graph())
    assert not found, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_no_module_is_over_800_lines() -> None:
    long = {
        str(path.relative_to(ROOT)): len(path.read_text().splitlines())
        for path in our_modules().values()
    }
    over = {name: lines for name, lines in long.items() if lines > MAX_LINES}
    assert not over, f"over {MAX_LINES} lines: {over}"


@pytest.mark.parametrize("package", sorted(set(PACKAGES) - NETWORK_ALLOWED))
def test_only_node_and_devnet_do_network_io(package: str) -> None:
    wrong = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            for name in names:
                if any(name == m or name.startswith(m + ".") for m in NETWORK_MODULES):
                    wrong.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not wrong, "network I/O outside node/ and devnet/:\n" + "\n".join(wrong)


# The checkers themselves: each must be able to fail.


def test_the_checkers_see_a_cycle_an_upward_import_and_a_late_import(tmp_path: Path) -> None:
    graph = {"chain.a": {"chain.b"}, "chain.b": {"chain.c"}, "chain.c": {"chain.a"}, "vm.x": set()}
    assert cycles(graph) == [["chain.a", "chain.b", "chain.c"]]
    assert upward_imports({"chain.a": {"node.api"}, "node.api": set()})
    assert upward_imports({"vm.x": {"consensus.y"}, "consensus.y": set()})  # siblings
    assert not upward_imports({"node.cli.main": {"devnet.network"}, "devnet.network": set()})
    assert upward_imports({"node.service": {"devnet.network"}, "devnet.network": set()})
    sample = tmp_path / "x.py"
    sample.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from chain.blocks import Block\n"
        "def f():\n    import node.api\n"
    )
    found = imports_of(sample, "x", {"chain.blocks", "node.api", "chain"})
    assert found == {"chain.blocks", "node.api"}


def test_every_hash_tag_is_distinct_within_blake2bs_16_bytes() -> None:
    """tagged_hash keys BLAKE2b's 16-byte personalisation with the tag, cut to 16 bytes: two
    tags that agree on their first 16 bytes would share a domain (two record kinds could
    share a state key). Every literal tag in the code must differ in its first 16 bytes."""
    seen: dict[bytes, bytes] = {}
    for path in sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "tagged_hash"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, bytes)
            ):
                tag = node.args[0].value
                other = seen.setdefault(tag[:16], tag)
                assert other == tag, f"{path}: tag {tag!r} shares its first 16 bytes with {other!r}"
    assert len(seen) > 20  # the scan found the tags


# Codes that never reach an API client: judged inside the node (blocks, evidence, peers,
# elections), or only by the CLI and tools (light clients, genesis files).
NOT_API_CODES = {
    "bad_peer_message",
    "invalid_block",
    "invalid_election_input",
    "invalid_evidence",
    "invalid_genesis",
    "invalid_light_block",
    "invalid_proof",
    "invalid_snapshot",  # a peer's snapshot, judged by a node that state-syncs
    "invalid_validator_set",
    "not_enough_trust",
    "reverted",  # a contract's revert is a receipt's status (`revert`), never a refusal
}


def test_every_rule_error_code_the_api_can_return_is_in_docs_api_md() -> None:
    import importlib
    import pkgutil

    import chain
    import contracts_std
    from chain.errors import RuleViolation

    for package in (chain, contracts_std):
        for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            importlib.import_module(module.name)

    def subclasses(cls: type) -> list[type]:
        return [s for c in cls.__subclasses__() for s in (c, *subclasses(c))]

    codes = {c.code for c in (RuleViolation, *subclasses(RuleViolation))}
    documented = set(re.findall(r"`([a-z_]+)`", (ROOT / "docs" / "api.md").read_text()))
    assert sorted(codes - documented - NOT_API_CODES) == []
