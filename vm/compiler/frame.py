"""The state of compiling one function: its local slots and their types, the names assigned
on every path to the current point, the enclosing loops and the code being emitted.

Reachability and definite assignment are one state: `assigned is None` means the point cannot be
reached. The base of the function compiler (constants.py, expressions.py, statements.py add to it
in that order), kept apart so each of those reads on its own.
"""

import ast
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import NoReturn

from chain.ledger.transactions import Value
from vm.compiler.code import Code, Label
from vm.compiler.errors import CompileError, line_of
from vm.compiler.scope import Scope, Signature
from vm.isa import MAX_LOCALS, ValueType


@dataclass(frozen=True)
class Loop:
    """Jump targets of the innermost loop, and the assigned names at each reachable break."""

    brk: Label
    cont: Label
    breaks: list[set[str]] = field(default_factory=list)


class Frame:
    """One function's slots and local types, its assigned names, its loops and its code."""

    def __init__(self, scope: Scope, sig: Signature, local_names: frozenset[str]) -> None:
        self.scope = scope
        self.sig = sig
        self.code = Code()
        self.local_names = local_names | {p for p, _ in sig.params}
        self.slots: dict[str, int] = {}
        self.types: dict[str, tuple[ValueType, int]] = {}
        for i, (name, t) in enumerate(sig.params):
            self.slots[name] = i
            self.types[name] = (t, sig.line)
        self.next_slot = len(sig.params)
        self.free_temps: list[int] = []
        self.assigned: set[str] | None = {p for p, _ in sig.params}
        self.loops: list[Loop] = []
        self.folded: dict[int, Value | None] = {}  # by id() of nodes of the live tree

    def fail(self, node: ast.AST, message: str) -> NoReturn:
        raise CompileError(self.scope.file, line_of(node), message)

    # --- slots and scratch buffers ---

    def new_slot(self, node: ast.AST) -> int:
        if self.next_slot >= MAX_LOCALS:
            self.fail(node, f"{self.sig.name}() needs more than {MAX_LOCALS} local variables")
        self.next_slot += 1
        return self.next_slot - 1

    def temp(self, node: ast.AST) -> int:
        return self.free_temps.pop() if self.free_temps else self.new_slot(node)

    @contextmanager
    def scratch(self, dead: bool) -> Iterator[None]:
        """Type-check without keeping the code: unreachable code, or a loop test seen early."""
        code, assigned = self.code, self.assigned
        self.code = Code()
        if dead:
            self.assigned = None
        try:
            yield
        finally:
            self.code, self.assigned = code, assigned
