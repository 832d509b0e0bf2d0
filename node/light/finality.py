"""Finality proofs for audit bundles: the light blocks that take a verifier holding nothing but
the genesis file to a bundle's headers.

`finality_for` asks a node for them (the fewest its bisection needs, GET /v1/light/path);
`check_finality` verifies them offline, in order, from the genesis file's trust root: each
header of the bundle must be one of the headers so verified, so a bundle proves its entry is in
a finalized block of this chain, through every change of the validator set since genesis.
"""

from collections.abc import Sequence
from typing import Any

from chain.blocks.header import Header
from chain.errors import InvalidProof, RuleViolation
from chain.genesis_state import GenesisState, genesis_hash
from chain.light.blocks import decode_light_block, encode_light_block
from chain.light.verify import verify_light_block
from node.api.client import NodeClient, answer_field
from node.light.client import trust_root

MAX_PROOF_BLOCKS = 100_000


def finality_for(client: NodeClient, heights: Sequence[int]) -> dict[str, Any]:
    """The bundle's `finality` section for headers at `heights`."""
    blocks = []
    start = 0
    for height in sorted(set(heights)):
        blocks += client.light_path(start, height)
        start = height
    return {
        "genesis_hash": answer_field(client.status(), "genesis_hash", str),
        "light_blocks": [encode_light_block(block).hex() for block in blocks],
    }


def check_finality(finality: Any, genesis: GenesisState, headers: Sequence[Header]) -> list[int]:
    """Verify `finality` from `genesis` and that every one of `headers` is among what it
    verified; returns the heights verified. Raises InvalidProof naming what fails."""
    if not isinstance(finality, dict) or not isinstance(finality.get("light_blocks"), list):
        raise InvalidProof(
            "the bundle carries no finality proof (take it again with `gridchain audit proof`)"
        )
    if finality.get("genesis_hash") != genesis_hash(genesis).hex():
        raise InvalidProof("the bundle's finality proof starts from another genesis")
    raws = finality["light_blocks"]
    if len(raws) > MAX_PROOF_BLOCKS:
        raise InvalidProof(f"the finality proof has more than {MAX_PROOF_BLOCKS} light blocks")
    trusted = trust_root(genesis)
    verified = {trusted.header.hash: trusted.height}
    for i, raw in enumerate(raws):
        try:
            block = decode_light_block(bytes.fromhex(raw if isinstance(raw, str) else ""))
            verify_light_block(genesis.chain_id, trusted, block)
        except ValueError:
            raise InvalidProof(f"light block {i} of the finality proof is not hex") from None
        except RuleViolation as exc:
            raise InvalidProof(f"light block {i} of the finality proof: {exc.message}") from None
        trusted = block
        verified[block.header.hash] = block.height
    for header in headers:
        if header.hash not in verified:
            raise InvalidProof(
                f"header {header.height} ({header.hash.hex()}) is not one the finality proof "
                "verified from genesis"
            )
    return sorted(verified.values())
