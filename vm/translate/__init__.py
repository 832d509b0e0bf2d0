"""The translator from validated code to Python, and the translated code of one module.

Each function is translated into one Python function (exec'd once, on the function's first
call): stack slots become Python locals, each basic block's gas is charged with one
subtraction at its entry, and checks whose outcome is known from a static kind analysis are
left out. The generated source never contains contract data: constants and messages are bound
by reference (keyword defaults `k<i>=K[i]`, `W=W<function>`); the only contract-derived text
in it is decimal integers formatted from decoded immediates (local and constant indices, SMALL
values, block numbers).

The package: kinds.py (the static kind analysis), stack.py (the operand stack of a chain of
blocks as pending Python expressions), instructions.py (what each op becomes), function.py
(blocks, chains and the dispatch between them: one whole function); here, the namespace the
generated code runs in and TranslatedCode, which translates each function on its first call.
The op semantics the generated code calls are vm/ops.py, shared with the interpreter.
"""

import threading
from collections.abc import Callable
from typing import Any

from chain.ledger.transactions import Value
from vm import host as hostlib
from vm import ops
from vm.errors import Halt, OutOfGas
from vm.isa import Host
from vm.ops import (
    bad,
    bad_arg,
    bad_return,
    bad_shift,
    by_zero,
    op_revert,
    overflow,
    too_deep,
    too_many_slots,
)
from vm.translate.function import FunctionTranslator
from vm.translate.instructions import GAS_HELPERS, HELPERS
from vm.translate.stack import Sites
from vm.validate import ValidatedModule

NAMESPACE: dict[str, Any] = {
    "Halt": Halt,
    "OutOfGas": OutOfGas,
    "bad": bad,
    "overflow": overflow,
    "by_zero": by_zero,
    "bad_shift": bad_shift,
    "bad_arg": bad_arg,
    "bad_return": bad_return,
    "too_deep": too_deep,
    "too_many_slots": too_many_slots,
    "op_revert": op_revert,
    **{name: vars(ops)[name] for name in (*HELPERS.values(), *GAS_HELPERS.values())},
    **{f"h_{h.name.lower()}": hostlib.HOST_FUNCTIONS[h] for h in Host},
}

Compiled = Callable[..., tuple[Value | None, int]]


class TranslatedCode:
    """A module's functions as Python functions f<i>(gas, depth, slots, host, *args) ->
    (result, gas left), raising Fault, Revert or OutOfGas. Each is translated on its first
    call (deploying or calling one function never pays for the others); until then f<i> in
    the shared namespace is a stub that translates and calls through."""

    def __init__(self, vm: ValidatedModule) -> None:
        self.vm = vm
        self.namespace: dict[str, Any] = dict(NAMESPACE, K=vm.module.consts)
        self.sources: dict[int, str] = {}
        self.code_size = sum(len(f.code) for f in vm.module.functions)
        self.source_size = 0
        self.lock = threading.Lock()
        for cf in vm.functions:
            self.namespace[f"f{cf.index}"] = self._stub(cf.index)

    def _stub(self, index: int) -> Compiled:
        def stub(*args: Any) -> tuple[Value | None, int]:
            return self.function(index)(*args)

        return stub

    def function(self, index: int) -> Compiled:
        if index not in self.sources:
            with self.lock:
                if index not in self.sources:
                    self._translate(index)
        compiled: Compiled = self.namespace[f"f{index}"]
        return compiled

    def _translate(self, index: int) -> None:
        sites = Sites()
        source = FunctionTranslator(self.vm, self.vm.functions[index], sites).translate()
        self.namespace[f"W{index}"] = tuple(sites.items)
        exec(compile(source, f"<vm f{index}>", "exec"), self.namespace)
        self.sources[index] = source
        self.source_size += len(source)

    def weight(self) -> int:
        """Bytes of code and generated Python held: what a cache of programs should count."""
        return self.code_size + self.source_size

    def source(self) -> str:
        """The generated Python of every function (translating those not called yet)."""
        for cf in self.vm.functions:
            self.function(cf.index)
        return "\n".join(self.sources[cf.index] for cf in self.vm.functions)
