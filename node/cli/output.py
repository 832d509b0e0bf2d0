"""How every CLI command prints: JSON with --json, lines for people, progress on stderr."""

import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def emit(as_json: bool, data: Any, text: str | Sequence[str]) -> None:
    """Print `data` as JSON or `text` for people; one place decides the format."""
    if as_json:
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(text if isinstance(text, str) else "\n".join(text))


def progress(as_json: bool) -> Callable[[str], None]:
    """Progress lines go to stderr, and not at all with --json, so stdout stays parseable."""

    def say(message: str) -> None:
        if not as_json:
            click.echo(message, err=True)

    return say


def json_option(f: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON output.")(f)
