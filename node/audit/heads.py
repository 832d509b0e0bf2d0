"""Tree heads as the monitor keeps them, and reading one from a node.

A head is read from the head block's header, not from `GET /v1/audit`: the header is what the
validators sign, so two headers whose logs disagree are evidence of misbehaviour, where two
`/v1/audit` answers would only be two claims. The header is rebuilt from its fields and its hash
recomputed here (`checked_header`), so the block hash kept is never the node's word.

Whether the header is final (signed by more than 2/3 of the blockstake) is a separate question,
answered by the `trust_header` hook. The default, `accept_recomputed`, asks nothing more: a node
could show the monitor a head the validators never signed. `node.light.client.header_verifier`
(`audit monitor --light-home`) plugs a light client in there: the header must be the final one
it verifies from genesis.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chain.blocks.header import Header
from chain.hashing import HASH_SIZE
from node.api.client import NodeClient, checked_header

TrustHeader = Callable[[Header], None]
"""Called with every head's header before it is used; raises a RuleViolation (for example
InvalidProof) to refuse it. The monitor reports a refused header as an `invalid_head` finding."""


def accept_recomputed(header: Header) -> None:
    """The default trust: any header whose hash recomputes from its fields, which `read_head`
    has already checked. It does not check the header's finality certificate against the
    validator set; `header_verifier` (node/light/client.py) does."""


@dataclass(frozen=True)
class TreeHead:
    """The audit log as one node's head block commits to it."""

    node: str  # the API URL of the node that showed it
    chain_id: str
    height: int
    block_hash: bytes
    audit_size: int
    audit_root: bytes

    def same_log(self, other: "TreeHead") -> bool:
        return (self.audit_size, self.audit_root) == (other.audit_size, other.audit_root)

    def describe(self) -> str:
        return f"log {self.audit_size} at height {self.height} from {self.node}"

    def to_json(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "chain_id": self.chain_id,
            "height": self.height,
            "block_hash": self.block_hash.hex(),
            "audit_size": self.audit_size,
            "audit_root": self.audit_root.hex(),
        }

    @classmethod
    def from_json(cls, view: Any) -> "TreeHead":
        """The inverse of to_json; ValueError naming the first field that is wrong."""
        if not isinstance(view, dict):
            raise ValueError("a head is not a JSON object")
        return cls(
            node=_text(view, "node"),
            chain_id=_text(view, "chain_id"),
            height=_count(view, "height"),
            block_hash=_hash(view, "block_hash"),
            audit_size=_count(view, "audit_size"),
            audit_root=_hash(view, "audit_root"),
        )


def _text(view: dict[str, Any], name: str) -> str:
    value = view.get(name)
    if not isinstance(value, str) or not value:
        raise ValueError(f"a head's {name!r} is not a non-empty string")
    return value


def _count(view: dict[str, Any], name: str) -> int:
    value = view.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"a head's {name!r} is not a non-negative integer")
    return value


def _hash(view: dict[str, Any], name: str) -> bytes:
    value = view.get(name)
    try:
        raw = bytes.fromhex(value) if isinstance(value, str) else b""
    except ValueError:
        raw = b""
    if len(raw) != HASH_SIZE:
        raise ValueError(f"a head's {name!r} is not {HASH_SIZE} bytes of hex")
    return raw


def read_head(client: NodeClient, trust_header: TrustHeader = accept_recomputed) -> TreeHead:
    """The head block's tree head. Raises ApiError if the node does not answer (or answers an
    error), InvalidProof if its header does not hash to the hash it claims, and whatever
    `trust_header` raises to refuse the header."""
    view = client.block("latest")
    header = checked_header(view.get("header"), f"the head block of {client.url}")
    trust_header(header)
    return TreeHead(
        node=client.url,
        chain_id=header.chain_id,
        height=header.height,
        block_hash=header.hash,
        audit_size=header.audit_size,
        audit_root=header.audit_root,
    )
