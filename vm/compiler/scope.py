"""Module scope: the constants, storage maps and function signatures a module declares, the
constant pool they share, and declarations that failed (so a use reports the declaration's error).

Filled by module.py before any body is compiled, so a function may call a later one and recurse.
"""

from dataclasses import dataclass

from chain.ledger.transactions import Value
from vm.compiler.errors import CompileError
from vm.compiler.storage import map_prefix
from vm.isa import ValueType


@dataclass(frozen=True)
class MapDecl:
    name: str
    key: ValueType
    value: ValueType
    line: int

    @property
    def prefix(self) -> bytes:
        return map_prefix(self.name)


@dataclass(frozen=True)
class Signature:
    name: str
    index: int
    params: tuple[tuple[str, ValueType], ...]
    returns: ValueType | None
    public: bool
    line: int


class ConstPool:
    """The module's constants, each stored once (bool kept apart from int)."""

    def __init__(self) -> None:
        self.values: list[Value] = []
        self.index: dict[tuple[type, Value], int] = {}

    def add(self, value: Value) -> int:
        key = (type(value), value)
        if key not in self.index:
            self.index[key] = len(self.values)
            self.values.append(value)
        return self.index[key]


class Scope:
    """Module-level names: constants, storage maps, functions; and declarations that failed."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.consts: dict[str, Value] = {}
        self.maps: dict[str, MapDecl] = {}
        self.functions: dict[str, Signature] = {}
        self.lines: dict[str, int] = {}
        self.broken: dict[str, CompileError] = {}
        self.pool = ConstPool()

    def kind(self, name: str) -> str | None:
        if name in self.broken:
            raise self.broken[name]
        if name in self.consts:
            return "constant"
        if name in self.maps:
            return "storage map"
        if name in self.functions:
            return "function"
        return None
