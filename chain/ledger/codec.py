"""A transaction kind's codec: its name on the wire, its payload class, and its canonical value
both ways. Each module of transaction kinds lists its codecs in one table; encoding and decoding
look the kind up there instead of walking an if-chain."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PayloadCodec:
    kind: str  # the body's "type"
    cls: type
    to_value: Callable[[Any], dict[str, Any]]
    from_value: Callable[[Any], Any]
