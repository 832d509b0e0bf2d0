"""A whole module: every module-level name is declared first (imports, constants, storage
maps, function signatures), then each function body is compiled in order, and the result is
checked as the chain checks it at deploy. The entry points compile_source and compile_file.
"""

import ast
import os
import re
from typing import NoReturn

from chain.ledger.transactions import Value
from vm.compiler.errors import CompileError, line_of
from vm.compiler.language import (
    LANG_EXPORTS,
    LANG_MODULES,
    RESERVED,
    TYPES_BY_NAME,
    UNSUPPORTED_STMT,
    tn,
    type_of,
)
from vm.compiler.scope import MapDecl, Scope, Signature
from vm.compiler.statements import Compiler, stored_names
from vm.errors import InvalidCode
from vm.isa import (
    MAX_FUNCTIONS,
    MAX_MODULE_SIZE,
    MAX_PARAMS,
    Function,
    Module,
    ValueType,
    encode_module,
)
from vm.validate import validate_module

TOO_DEEP = "too deeply nested; split the expression or statement"


def _annotation_type(e: ast.expr | None) -> ValueType | None:
    if isinstance(e, ast.Name) and e.id in TYPES_BY_NAME:
        return TYPES_BY_NAME[e.id]
    return None


class ModuleCompiler:
    """Declares every module-level name first (so functions may call later ones and recurse),
    then compiles function bodies in order; errors are raised in source order."""

    def __init__(self, source: str, file: str) -> None:
        self.source = source
        self.file = file
        self.scope = Scope(file)
        self.failed: dict[int, CompileError] = {}  # id(statement) -> its declaration error
        self.bodies: list[tuple[ast.FunctionDef, Signature]] = []

    def fail(self, node: ast.AST, message: str) -> NoReturn:
        raise CompileError(self.file, line_of(node), message)

    def compile(self) -> Module:
        try:
            tree = ast.parse(self.source, filename=self.file)
        except SyntaxError as exc:
            raise CompileError(self.file, exc.lineno or 0, f"syntax error: {exc.msg}") from None
        except (RecursionError, MemoryError):
            raise CompileError(self.file, 1, "the source is nested too deeply") from None
        for s in tree.body:
            try:
                self.declare(s)
            except CompileError as exc:
                self.failed[id(s)] = exc
                for name in _declared_names(s):
                    if name not in self.scope.lines:
                        self.scope.broken.setdefault(name, exc)
            except RecursionError:
                self.failed[id(s)] = CompileError(self.file, s.lineno, TOO_DEEP)
        functions: list[Function] = []
        for s in tree.body:
            if id(s) in self.failed:
                raise self.failed[id(s)]
            if isinstance(s, ast.FunctionDef):
                sig = self.scope.functions[s.name]
                compiler = Compiler(self.scope, sig, self.local_names(s))
                try:
                    functions.append(compiler.function(s))
                except RecursionError:
                    raise CompileError(self.file, s.lineno, TOO_DEEP) from None
        module = Module(consts=tuple(self.scope.pool.values), functions=tuple(functions))
        size = len(encode_module(module))
        if size > MAX_MODULE_SIZE:
            raise CompileError(
                self.file, 1, f"the compiled module is {size} bytes; at most {MAX_MODULE_SIZE}"
            )
        self.check_deployable(module)
        return module

    def check_deployable(self, module: Module) -> None:
        """What the chain checks at deploy (e.g. MAX_STACK) is an error here, with a line."""
        try:
            validate_module(module)
        except InvalidCode as exc:
            found = re.match(r"function (\d+) ", exc.message)  # validate._fail's format
            line = 1
            if found is not None and int(found[1]) < len(module.functions):
                line = self.scope.functions[module.functions[int(found[1])].name].line
            message = f"the compiled code is refused: {exc.message}"
            raise CompileError(self.file, line, message) from None

    def local_names(self, node: ast.FunctionDef) -> frozenset[str]:
        return frozenset(n for n in stored_names(node.body) if n not in self.scope.lines)

    def name_free(self, name: str, node: ast.AST) -> None:
        if name in RESERVED:
            self.fail(node, f"{name} is a builtin name; choose another")
        if name in self.scope.lines:
            self.fail(node, f"{name} is already defined on line {self.scope.lines[name]}")

    def declare(self, s: ast.stmt) -> None:
        if isinstance(s, ast.Expr) and _is_str_constant(s.value):
            return  # the module docstring
        if isinstance(s, ast.ImportFrom):
            self.import_from(s)
        elif isinstance(s, ast.Import):
            names = ", ".join(a.name for a in s.names)
            self.fail(
                s, f"import {names} is not supported; contracts import only from gridchain_contract"
            )
        elif isinstance(s, ast.Assign | ast.AnnAssign):
            self.global_(s)
        elif isinstance(s, ast.FunctionDef):
            self.signature(s)
        elif type(s) in UNSUPPORTED_STMT and not isinstance(s, ast.Import | ast.ImportFrom):
            self.fail(s, UNSUPPORTED_STMT[type(s)])
        else:
            self.fail(
                s, "only imports, constants, storage maps and functions are allowed at module level"
            )

    def import_from(self, s: ast.ImportFrom) -> None:
        module = s.module or ""
        if s.level == 0 and module == "typing" and [a.name for a in s.names] == ["Final"]:
            return
        if s.level != 0 or module not in LANG_MODULES:
            self.fail(
                s,
                f"imports from {'.' * s.level}{module} are not supported; "
                "contracts import only from gridchain_contract",
            )
        for alias in s.names:
            if alias.asname is not None:
                self.fail(s, "renaming imports (as) is not supported")
            if alias.name != "*" and alias.name not in LANG_EXPORTS:
                self.fail(s, f"{module} has no name {alias.name}")

    def global_(self, s: ast.Assign | ast.AnnAssign) -> None:
        targets = s.targets if isinstance(s, ast.Assign) else [s.target]
        if len(targets) != 1 or not isinstance(targets[0], ast.Name):
            self.fail(s, "a module-level assignment names one constant or storage map")
        name = targets[0].id
        if s.value is None:
            self.fail(s, f"module-level {name} needs a value")
        value = s.value
        self.name_free(name, s)
        if (
            isinstance(value, ast.Call)
            and isinstance(value.func, ast.Name)
            and value.func.id == "Map"
        ):
            decl = self.map_decl(name, value, s)
            self.scope.maps[name] = decl
        else:
            self.scope.consts[name] = self.constant(name, value, s)
        self.scope.lines[name] = s.lineno

    def map_decl(self, name: str, value: ast.Call, s: ast.Assign | ast.AnnAssign) -> MapDecl:
        types = [_annotation_type(a) for a in value.args]
        if value.keywords or len(types) != 2 or types[0] is None or types[1] is None:
            self.fail(
                s,
                "a storage map is declared Map(KeyType, ValueType) "
                "with types int, bool, bytes or str",
            )
        key, val = types[0], types[1]
        if isinstance(s, ast.AnnAssign):
            ann = s.annotation
            ok = (
                isinstance(ann, ast.Subscript)
                and isinstance(ann.value, ast.Name)
                and ann.value.id == "Map"
                and isinstance(ann.slice, ast.Tuple)
                and [_annotation_type(t) for t in ann.slice.elts] == [key, val]
            )
            if not ok:
                self.fail(s, f"the annotation of {name} must be Map[{tn(key)}, {tn(val)}]")
        return MapDecl(name, key, val, s.lineno)

    def constant(self, name: str, value: ast.expr, s: ast.Assign | ast.AnnAssign) -> Value:
        checker = Compiler(
            self.scope, Signature("<module>", 0, (), None, False, s.lineno), frozenset()
        )
        folded = checker.fold(value)
        if folded is None:
            checker.expr(value)  # an error of the expression itself, if it has one
            self.fail(
                s,
                f"module-level {name} must be a constant (int, bool, bytes or str) "
                "or Map(KeyType, ValueType)",
            )
        if isinstance(s, ast.AnnAssign):
            ann = s.annotation
            if (
                isinstance(ann, ast.Subscript)
                and isinstance(ann.value, ast.Name)
                and ann.value.id == "Final"
            ):
                ann = ann.slice
            elif isinstance(ann, ast.Name) and ann.id == "Final":
                return folded
            declared = _annotation_type(ann)
            if declared is None:
                self.fail(
                    s,
                    f"unsupported annotation {ast.unparse(s.annotation)}; "
                    "use Final, Final[T] or T with T in int, bool, bytes, str",
                )
            if declared != type_of(folded):
                self.fail(
                    s, f"{name} is declared {tn(declared)} but its value is {tn(type_of(folded))}"
                )
        return folded

    def signature(self, s: ast.FunctionDef) -> None:
        self.name_free(s.name, s)
        if len(s.name) > 64:
            self.fail(s, "a function name is at most 64 characters")
        public = False
        for d in s.decorator_list:
            if not (isinstance(d, ast.Name) and d.id == "public"):
                self.fail(d, "only the @public decorator is supported")
            public = True
        a = s.args
        if a.vararg is not None or a.kwarg is not None:
            self.fail(s, "*args and **kwargs are not supported")
        if a.kwonlyargs:
            self.fail(s, "keyword-only parameters are not supported")
        if a.defaults:
            self.fail(s, "default parameter values are not supported")
        params: list[tuple[str, ValueType]] = []
        for arg in [*a.posonlyargs, *a.args]:
            if arg.annotation is None:
                self.fail(
                    arg,
                    f"parameter {arg.arg} of {s.name}() needs a type annotation "
                    "(int, bool, bytes or str)",
                )
            t = _annotation_type(arg.annotation)
            if t is None:
                self.fail(
                    arg,
                    f"unsupported type {ast.unparse(arg.annotation)}; use int, bool, bytes or str",
                )
            if arg.arg in self.scope.lines:
                self.fail(
                    arg,
                    f"parameter {arg.arg} hides the module-level {arg.arg} "
                    f"(line {self.scope.lines[arg.arg]}); rename it",
                )
            params.append((arg.arg, t))
        if len(params) > MAX_PARAMS:
            self.fail(s, f"{s.name}() has {len(params)} parameters; at most {MAX_PARAMS}")
        if s.returns is None:
            self.fail(s, f"{s.name}() needs a return annotation (-> int, bool, bytes, str or None)")
        if isinstance(s.returns, ast.Constant) and s.returns.value is None:
            returns = None
        else:
            returns = _annotation_type(s.returns)
            if returns is None:
                self.fail(
                    s.returns,
                    f"unsupported return type {ast.unparse(s.returns)}; "
                    "use int, bool, bytes, str or None",
                )
        if len(self.scope.functions) >= MAX_FUNCTIONS:
            self.fail(s, f"a module has at most {MAX_FUNCTIONS} functions")
        index = len(self.scope.functions)
        self.scope.functions[s.name] = Signature(
            s.name, index, tuple(params), returns, public, s.lineno
        )
        self.scope.lines[s.name] = s.lineno


def _is_str_constant(e: ast.expr) -> bool:
    return isinstance(e, ast.Constant) and isinstance(e.value, str)


def _declared_names(s: ast.stmt) -> list[str]:
    if isinstance(s, ast.FunctionDef):
        return [s.name]
    if isinstance(s, ast.Assign):
        return [t.id for t in s.targets if isinstance(t, ast.Name)]
    if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name):
        return [s.target.id]
    return []


def compile_source(source: str, filename: str = "<contract>") -> Module:
    """Compile a contract; raises CompileError ("file:line: message") at its first error."""
    return ModuleCompiler(source, filename).compile()


def compile_file(path: str | os.PathLike[str]) -> bytes:
    """The deployable bytes (encoded module) of the contract at `path`."""
    with open(path, encoding="utf-8") as f:
        source = f.read()
    return encode_module(compile_source(source, os.fspath(path)))
