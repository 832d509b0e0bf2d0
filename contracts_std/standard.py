"""The standard IT contracts, written in the contract language (vm/compiler/) and deployed at
genesis: workload (multisig workload specs, which the chain deploys once authorized; what runs
is billed by the chain itself, chain/deployment/billing.py).

Each contract is a source file in this package; `standard_contracts()` compiles them. The
sources are also plain Python over vm/lang.py, so they can be read, linted and type-checked.
"""

from functools import cache
from pathlib import Path

from vm.compiler import compile_source
from vm.isa import encode_module

HERE = Path(__file__).resolve().parent
STANDARD = ("workload",)


def contract_source(name: str) -> str:
    return (HERE / f"{name}.py").read_text()


@cache
def compiled(name: str) -> bytes:
    path = HERE / f"{name}.py"
    return encode_module(compile_source(path.read_text(), str(path.name)))


def standard_contracts() -> list[tuple[str, bytes]]:
    """(name, code) of every standard contract, in a fixed order."""
    return [(name, compiled(name)) for name in STANDARD]
