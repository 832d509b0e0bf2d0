"""The light client's work: reach a height from what it trusts, with a primary node serving the
light blocks and witnesses asked for the same header.

Verification is chain/light/verify.py (skipping, bisecting where the trusted set cannot vouch
for a skip); this module fetches, keeps what was verified (node/light/store.py), and
cross-checks: a witness that serves a different header for the verified height is either lying
(its block fails its own certificate: it is reported and left out) or proof of an attack (both
headers are certified: the validators that signed both are named, and the client stops).
"""

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from chain.blockchain import genesis_block
from chain.blocks.header import Header, header_to_json
from chain.errors import InvalidProof, LocalFault, RuleViolation
from chain.genesis_state import GenesisState, genesis_hash
from chain.light.blocks import LightBlock, encode_light_block
from chain.light.verify import (
    LightBlockInvalid,
    check_light_block,
    double_signers,
    verify_to,
)
from node.api.client import ApiError, NodeClient
from node.light.store import LightStore

MAX_CLOCK_DRIFT_MS = 10_000  # a header from further in the future than this is refused


class LightSyncError(LocalFault):
    """The primary could not be followed (unreachable, or served a block that fails)."""

    code = "light_sync_failed"


class ConflictingHeaders(LocalFault):
    """A witness holds another certified header for a verified height: an attack on the chain
    or on this client. The client stops; `evidence` says who signed both."""

    code = "conflicting_headers"

    def __init__(self, message: str, evidence: dict[str, Any]) -> None:
        super().__init__(message)
        self.evidence = evidence


def trust_root(genesis: GenesisState) -> LightBlock:
    """Height 0 as the genesis file makes it: the header and the set that signs block 1."""
    return LightBlock(genesis_block(genesis).block.header, genesis.validators, None)


def initialize(store: LightStore, genesis: GenesisState) -> LightBlock:
    root = trust_root(genesis)
    store.initialize(genesis_hash(genesis), root)
    return root


@dataclass(frozen=True)
class WitnessReport:
    url: str
    status: str  # "agrees", "behind", "unreachable", "faulty"
    detail: str = ""

    def to_json(self) -> dict[str, str]:
        return {"url": self.url, "status": self.status, "detail": self.detail}


@dataclass(frozen=True)
class SyncResult:
    trusted: LightBlock
    verified: tuple[int, ...]  # heights newly verified, in order
    witnesses: tuple[WitnessReport, ...]


def check_not_from_the_future(block: LightBlock, now_ms: int) -> None:
    if block.header.time_ms > now_ms + MAX_CLOCK_DRIFT_MS:
        raise LightBlockInvalid(
            f"height {block.height} is dated {block.header.time_ms - now_ms} ms in the future"
        )


def sync(
    store: LightStore,
    chain_id: str,
    primary: NodeClient,
    witnesses: Sequence[NodeClient] = (),
    height: int | None = None,
    progress: Callable[[str], None] = lambda line: None,
    now_ms: Callable[[], int] = lambda: int(time.time() * 1000),
) -> SyncResult:
    """Verify `height` (the primary's latest by default) from the highest block trusted below
    it, store each block verified on the way, then ask every witness for the same height."""
    try:
        target = primary.light_block("latest").height if height is None else height
    except ApiError as exc:
        raise LightSyncError(f"primary {primary.url}: {exc.message}") from None
    start = store.highest_at_or_below(target)
    verified: list[int] = []

    def fetch(at: int) -> LightBlock:
        try:
            block = primary.light_block(at)
        except ApiError as exc:
            raise LightSyncError(f"primary {primary.url} at height {at}: {exc.message}") from None
        check_not_from_the_future(block, now_ms())
        return block

    def keep(block: LightBlock) -> None:
        store.put(block)
        verified.append(block.height)
        progress(f"verified height {block.height} ({block.header.hash.hex()[:16]})")

    try:
        trusted = verify_to(chain_id, start, target, fetch, keep)
    except RuleViolation as exc:
        raise LightSyncError(
            f"primary {primary.url} served a block that fails: {exc.message}"
        ) from None
    # The trust the witness is checked from: what the client held below the height before
    # this sync (a primary that lied on the way must not make an honest witness look faulty).
    anchor = start
    if start.height == trusted.height > 0:
        anchor = store.highest_at_or_below(trusted.height - 1)
    reports = tuple(cross_check(chain_id, anchor, trusted, witness) for witness in witnesses)
    return SyncResult(trusted, tuple(verified), reports)


def cross_check(
    chain_id: str, anchor: LightBlock, trusted: LightBlock, witness: NodeClient
) -> WitnessReport:
    """Ask `witness` for the trusted height; raise ConflictingHeaders on a fork.

    Another header is a fork only if it verifies, through the witness's own blocks, from
    `anchor` (what the client trusted below that height before the primary was heard): a
    header certified only by a set of its own making is the witness's fault, and reported."""
    try:
        theirs = witness.light_block(trusted.height)
    except ApiError as exc:
        status = "behind" if exc.code == "not_found" else "unreachable"
        return WitnessReport(witness.url, status, exc.message)
    if theirs.header.hash == trusted.header.hash:
        return WitnessReport(witness.url, "agrees")

    def fetch(at: int) -> LightBlock:
        if at == theirs.height:
            return theirs
        try:
            return witness.light_block(at)
        except ApiError as exc:
            raise LightSyncError(f"at height {at}: {exc.message}") from None

    try:
        verify_to(chain_id, anchor, theirs.height, fetch)
    except RuleViolation as exc:
        return WitnessReport(
            witness.url,
            "faulty",
            f"another header, not verified from height {anchor.height}: {exc.message}",
        )
    except LightSyncError as exc:
        return WitnessReport(witness.url, "unreachable", exc.message)
    signers = double_signers(trusted, theirs)
    evidence = conflict_evidence(trusted, theirs, witness.url)
    names = ", ".join(v.name or v.public_key.hex() for v in signers) or "none of the same keys"
    raise ConflictingHeaders(
        f"witness {witness.url} holds another certified header for height {trusted.height}; "
        f"signed both: {names}",
        evidence,
    )


def conflict_evidence(ours: LightBlock, theirs: LightBlock, witness: str) -> dict[str, Any]:
    """What proves the fork: both light blocks in full, and who signed both."""
    return {
        "height": ours.height,
        "witness": witness,
        "trusted": {
            "header": header_to_json(ours.header),
            "light_block": encode_light_block(ours).hex(),
        },
        "conflicting": {
            "header": header_to_json(theirs.header),
            "light_block": encode_light_block(theirs).hex(),
        },
        "double_signers": [
            {"public_key": v.public_key.hex(), "name": v.name, "blockstake": v.blockstake}
            for v in double_signers(ours, theirs)
        ],
    }


def certified_block(client: NodeClient, height: int, store: LightStore | None = None) -> LightBlock:
    """The node's light block of `height`, its certificate checked against the set its header
    names; with a light client's `store`, also verified from what that client trusts (and kept
    there), so the header is known final without trusting the node."""
    try:
        block = client.light_block(height)
    except ApiError as exc:
        raise LightSyncError(f"{client.url} at height {height}: {exc.message}") from None
    if store is None:
        try:
            check_light_block(block.header.chain_id, block)
        except RuleViolation as exc:
            raise LightSyncError(f"{client.url} at height {height}: {exc.message}") from None
        return block
    chain_id = store.highest_at_or_below(0).header.chain_id
    trusted = sync(store, chain_id, client, (), height).trusted
    if trusted.header.hash != block.header.hash:
        raise LightSyncError(f"{client.url} served two headers for height {height}")
    return trusted


def header_verifier(store: LightStore, sources: Sequence[NodeClient]) -> Callable[[Header], None]:
    """A check that a header is final: the light client of `store` verifies its height from
    what it trusts (fetching light blocks from the first of `sources` that serves them), and
    the header must be the one it verified. Raises InvalidProof otherwise (or LightSyncError
    when no source could be followed)."""
    chain_id = store.highest_at_or_below(0).header.chain_id

    def check(header: Header) -> None:
        verified = store.get(header.height)
        failures = []
        for source in sources if verified is None else ():
            try:
                verified = sync(store, chain_id, source, (), header.height).trusted
                break
            except LightSyncError as exc:
                failures.append(exc.message)
        if verified is None:
            raise LightSyncError(
                f"height {header.height} could not be verified: {'; '.join(failures)}"
            )
        if verified.header.hash != header.hash:
            raise InvalidProof(
                f"header {header.height} ({header.hash.hex()}) is not the final one the light "
                f"client verified ({verified.header.hash.hex()})"
            )

    return check
