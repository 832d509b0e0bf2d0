"""verifyEntry's steps in Python: the reference the explorer's verifier
(node/explorer/web/src/verify/index.js) follows, made of the chain's own functions.

`reference_flow` checks one audit entry from the node's public answers, trusting only the hash
of block 0's header: the entry's bytes are its leaf, the inclusion proof leads to the audit root
of the header that commits to the log's size, the header is what its certificate signs, light
blocks lead from genesis to it (adjacent or skipping, chain/light/verify.py), and its
certificate holds against its validator set. tests/vectors/explorer.py runs it over the real
API's answers and over tampered copies; the JavaScript must reach the same steps and errors.
"""

import copy
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from chain.encoding import decode
from chain.errors import InvalidProof, RuleViolation
from chain.ledger.audit import ENTRY_FIELDS, AuditEntry, entry_from_value, entry_to_json
from chain.light.blocks import LightBlock, decode_light_block
from chain.light.verify import LightBlockInvalid, check_light_block, verify_light_block
from chain.merkle import check_inclusion, leaf_hash
from chain.staking.validators import validator_set_hash
from node.api.client import header_from_json, proof_hashes

STEPS = ("leaf", "inclusion", "header", "light_path", "certificate")


# The reference flow: verifyEntry's steps, in Python


def reference_flow(
    fetch: Callable[[str], Any], index: int, trusted_genesis_hash: bytes
) -> Iterator[str]:
    """What the explorer's verifyEntry does, with the chain's own functions: yields each of
    STEPS as it passes and raises a RuleViolation naming what fails."""
    answer = fetch(f"/v1/audit/entries/{index}/proof")
    entry_bytes = unhex(text_field(answer, "entry_bytes"), "entry_bytes")
    check_entry(answer, index, entry_bytes)
    yield "leaf"

    view = answer.get("header")
    header = header_from_json(view)
    size = answer.get("size")
    if not isinstance(size, int) or isinstance(size, bool):
        raise InvalidProof("the node's answer has no valid 'size'")
    if header.audit_size != size:
        raise InvalidProof(f"header commits to a log of {header.audit_size}, not {size}")
    check_inclusion(leaf_hash(entry_bytes), index, size, proof_hashes(answer), header.audit_root)
    yield "inclusion"

    assert isinstance(view, dict)
    if view.get("hash") is not None and view["hash"] != header.hash.hex():
        raise InvalidProof("header's hash field does not match its contents")
    certified = light_block(fetch, header.height)
    if certified.commit is None:
        raise LightBlockInvalid(f"height {header.height} has no certificate")
    if certified.commit.block_hash != header.hash:
        raise InvalidProof(
            f"the certificate of height {header.height} signs "
            f"{certified.commit.block_hash.hex()}, not the header's hash {header.hash.hex()}"
        )
    yield "header"

    trusted = light_block(fetch, 0)
    if trusted.header.hash != trusted_genesis_hash:
        if trusted.header.prev_hash == trusted_genesis_hash:
            raise InvalidProof(
                "the trusted genesis hash is the genesis file's (a node's /v1/status "
                "genesis_hash), not the hash of block 0's header (`gridchain light init --json` "
                "prints that)"
            )
        raise InvalidProof(
            f"block 0 hashes to {trusted.header.hash.hex()}, not the trusted genesis hash "
            f"{trusted_genesis_hash.hex()}"
        )
    if validator_set_hash(trusted.validators) != trusted.header.validators_hash:
        raise LightBlockInvalid(
            "height 0: the validator set does not hash to the header's validators_hash"
        )
    chain_id = trusted.header.chain_id
    while trusted.height < header.height:
        path = fetch(f"/v1/light/path?from={trusted.height}&to={header.height}")
        raws = path.get("light_blocks") if isinstance(path, dict) else None
        if not isinstance(raws, list):
            raise InvalidProof("the node's answer has no valid 'light_blocks'")
        if not raws:
            raise InvalidProof(
                f"the node's light path stops at height {trusted.height}, below {header.height}"
            )
        for raw in raws:
            block = decode_light_block(unhex(raw, "a light block"))
            verify_light_block(chain_id, trusted, block)
            trusted = block
    if trusted.header.hash != header.hash:
        raise InvalidProof(
            f"the light path reaches header {trusted.header.hash.hex()} at height "
            f"{trusted.height}, not the proof's header {header.hash.hex()}"
        )
    yield "light_path"

    check_light_block(chain_id, LightBlock(header, certified.validators, certified.commit))
    yield "certificate"


def text_field(answer: Any, name: str) -> str:
    value = answer.get(name) if isinstance(answer, dict) else None
    if not isinstance(value, str):
        raise InvalidProof(f"the node's answer has no valid {name!r}")
    return value


def unhex(text: Any, what: str) -> bytes:
    if not isinstance(text, str) or len(text) % 2 or any(c not in HEX_DIGITS for c in text):
        raise InvalidProof(f"{what} is not hex")
    return bytes.fromhex(text)


HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def check_entry(answer: dict[str, Any], index: int, data: bytes) -> None:
    """The entry's bytes are the leaf the node shows, and encode the entry it shows."""
    view = answer.get("entry")
    if not isinstance(view, dict):
        raise InvalidProof("the node's answer has no valid 'entry'")
    if answer.get("index") != index or view.get("index") != index:
        raise InvalidProof(f"the node's answer is not for entry {index}")
    leaf = leaf_hash(data)
    if text_field(view, "leaf_hash") != leaf.hex():
        raise InvalidProof(
            f"the entry's bytes hash to leaf {leaf.hex()}, not to its leaf_hash {view['leaf_hash']}"
        )
    shown = entry_to_json(entry_from_bytes(data))
    for name in ENTRY_FIELDS:
        if view.get(name) != shown[name]:
            raise InvalidProof(f"the entry's {name} is not what its bytes encode")


def entry_from_bytes(data: bytes) -> AuditEntry:
    """An audit entry from outside bytes (decode_entry reads the node's own records)."""
    return entry_from_value(decode(data))


def light_block(fetch: Callable[[str], Any], height: int) -> LightBlock:
    answer = fetch(f"/v1/light/{height}")
    block = decode_light_block(unhex(text_field(answer, "light_block"), "the light block"))
    if block.height != height:
        raise InvalidProof(f"asked for the light block of height {height}, got {block.height}")
    return block


class Missing(Exception):
    """A path the flow asked for that was not recorded yet."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


def run_flow(api: Mapping[str, Any], index: int, trusted: bytes) -> dict[str, Any]:
    """The steps `reference_flow` reaches over recorded answers: each passed, then the failing
    one with its error."""

    def fetch(path: str) -> Any:
        if path not in api:
            raise Missing(path)
        return copy.deepcopy(api[path])

    steps: list[dict[str, Any]] = []
    try:
        for name in reference_flow(fetch, index, trusted):
            steps.append({"name": name, "ok": True})
    except RuleViolation as exc:
        steps.append({"name": STEPS[len(steps)], "ok": False})
        return {"ok": False, "steps": steps, "error": error_of(exc)}
    return {"ok": True, "steps": steps}


def error_of(exc: RuleViolation) -> dict[str, str]:
    return {"code": exc.code, "message": exc.message}


def verdict(check: Callable[[], object]) -> dict[str, Any]:
    try:
        check()
    except RuleViolation as exc:
        return {"ok": False, "error": error_of(exc)}
    return {"ok": True}


def refused(check: Callable[[], object]) -> dict[str, Any]:
    """The verdict of a check that must fail."""
    result = verdict(check)
    assert not result["ok"], "a negative vector passed the Python rules"
    return result
