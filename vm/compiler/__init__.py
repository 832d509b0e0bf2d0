"""Compiler from a restricted, statically typed Python subset to VM bytecode (vm/isa.py).

Contracts are ordinary Python files (vm/lang.py makes them run as Python), so authors get their
editor, linter and type checker; the compiler accepts only what it can give one exact meaning on
chain and reports the first thing it cannot as "file:line: message". docs/contract-language.md is
the author's reference; this docstring only records the design.

- Every expression has one of the four value types, known at compile time; there are no implicit
  conversions and no truthiness, so the VM's dynamic kind checks never fire on compiled code.
- A local's type comes from its first assignment in source order. Python's scoping is kept: a name
  assigned anywhere in a function is local throughout, and a read must follow an assignment on
  every path (definite assignment, as in Java), so the VM never sees an unset local.
- Reachability and definite assignment are one state: `assigned is None` means the point cannot be
  reached. Unreachable statements are still type-checked, into a scratch buffer that is dropped.
- Code is a list of instructions and labels; a small peephole pass threads jumps, drops jumps to
  the next instruction and unreachable code, then the list is laid out (every jump is u16).

The package, in the order a module is compiled: language.py (the value types, builtins and
operators, and what is refused), errors.py, storage.py (the storage key layout), scope.py
(module-level names), module.py (declarations, then each body), and for one function body
frame.py (slots, scratch buffers) <- constants.py (folding, pushing) <- expressions.py
(expressions, calls, conditions) <- statements.py (statements, definite assignment), whose
`Compiler` is the whole; code.py holds the code buffer, the peephole pass and the layout.
"""

from vm.compiler.errors import CompileError
from vm.compiler.module import compile_file, compile_source
from vm.compiler.storage import map_key

__all__ = ["CompileError", "compile_file", "compile_source", "map_key"]
