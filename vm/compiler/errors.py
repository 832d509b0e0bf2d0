"""The one error the compiler raises, and the line a syntax node reports it at."""

import ast

from chain.errors import GridchainError


class CompileError(GridchainError):
    """A contract the compiler refuses; the message starts with "file:line: "."""

    code = "compile_error"

    def __init__(self, file: str, line: int, message: str) -> None:
        super().__init__(f"{file}:{line}: {message}")
        self.file = file
        self.line = line


def line_of(node: ast.AST) -> int:
    line: int = getattr(node, "lineno", 0)
    return line
