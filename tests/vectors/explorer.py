"""Shared vectors of the explorer's verifier (node/explorer/web/src/verify/), made by the Python
rules, so the browser checks an audit entry exactly as the chain does.

Hashes, canonical encodings (and bytes `decode` refuses), Merkle inclusion proofs, audit
entries, headers, vote sign bytes, validator sets, BLS keys, proofs of possession and
aggregates, certificates and light blocks of a real chain whose council changes its validator
set (every genesis validator but one leaves), and the node API's answers for one audit entry
(GET /v1/audit/entries/{i}/proof, /v1/light/{h}, /v1/light/path, served by the real handlers)
with the verdict `reference_flow` reaches on them and on tampered copies: each negative
vector carries the Python error's code and message, which the JavaScript must repeat.

tests/node/test_explorer_vectors.py checks explorer.json is what this makes now and runs the
JavaScript tests (node/explorer/web/test/) over it. Regenerate deliberately with
`python -m tests.vectors.explorer --write` and say why in the commit.
"""

import asyncio
import copy
import json
import sys
import tempfile
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import cbor2
from aiohttp.test_utils import TestClient, TestServer
from py_arkworks_bls12381 import G1Point
from py_ecc.fields import bls12_381_FQ

from chain import bls
from chain.blocks.commit import VoteType, sign_commit, signer_bitmap, vote_sign_bytes
from chain.blocks.header import header_to_json, header_to_value
from chain.encoding import decode, encode
from chain.errors import EncodingError
from chain.hashing import hash32, tagged_hash
from chain.keys import KeyPair
from chain.ledger.audit import encode_entry, entry_leaf, entry_to_json
from chain.light.blocks import (
    LightBlock,
    decode_light_block,
    encode_light_block,
    light_block_at,
    light_block_to_value,
)
from chain.light.verify import check_light_block, verify_light_block
from chain.merkle import check_inclusion, inclusion_proof, leaf_hash, root
from chain.staking.txs import ValidatorChange, ValidatorRemove, ValidatorSetStake
from chain.staking.validators import (
    Validator,
    ValidatorSet,
    check_bls_registration,
    encode_validator_set,
    make_validator_set,
    validator_bls_key,
    validator_set_hash,
    validator_set_to_json,
    validator_with_key,
)
from node.api import light as light_api
from node.api.app import make_app
from node.api.client import header_from_json
from node.config import NodeConfig
from node.service import NodeService
from tests.kit.councilkit import CHAIN, NEWCOMERS, A, B, C, CouncilChain, D, add, make_genesis
from tests.vectors.explorer_flow import Missing, entry_from_bytes, refused, run_flow, verdict

FILE = Path(__file__).with_name("explorer.json")
OTHER_CHAIN = "gridchain-other"
E, F = NEWCOMERS[:2]
TOP = 16
# The council's decisions by height: E and F join, then A, B and C leave (each one set after
# the other), then D is restaked, so the last audit entry's header is signed by D, E and F:
# too little of the genesis set's stake for one skip, so its light path bisects.
COUNCIL: dict[int, list[ValidatorChange]] = {
    2: [add(E, 100, "e"), add(F, 100, "f")],
    5: [ValidatorRemove(A.public_key)],
    8: [ValidatorRemove(B.public_key)],
    11: [ValidatorRemove(C.public_key)],
    14: [ValidatorSetStake(D.public_key, 150)],
}
ENTRY_INDEX = 3


# Primitives


def typed(value: Any) -> Any:
    """A value of the encoding's profile as JSON that keeps its types (and a map's order)."""
    if isinstance(value, bool):
        return {"bool": value}
    if isinstance(value, int):
        return {"int": str(value)}
    if isinstance(value, bytes):
        return {"bytes": value.hex()}
    if isinstance(value, str):
        return {"text": value}
    if isinstance(value, list):
        return {"list": [typed(item) for item in value]}
    assert isinstance(value, dict)
    return {"map": [[key, typed(item)] for key, item in value.items()]}


def nested(depth: int) -> Any:
    value: Any = 0
    for _ in range(depth):
        value = [value]
    return value


ENCODED_VALUES: list[Any] = [
    *[0, 1, 23, 24, 255, 256, 65_535, 65_536, 2**32 - 1, 2**32, 2**53 - 1, 2**53, 2**53 + 1],
    *[2**63 - 1, 2**64 - 1, -1, -24, -25, -256, -257, -(2**53) - 1, -(2**64)],
    *[b"", b"\x00", bytes(range(23)), bytes(range(24)), bytes(255), bytes(256)],
    *["", "a", "é", "日本", "x" * 23, "x" * 24, "y" * 300, True, False],
    *[[], [1, [2, [3]]], list(range(24)), nested(32)],
    {},
    {"b": 1, "a": 2, "aa": 3, "é": 4, "z": 5, "ab": 6, "": 7, "😀": 8, "\uffff": 9, "日": 10},
    {"k" * 24: 1, "k" * 23: 2, "l" * 23: 3},
    {"outer": {"z": [b"\x01", "t"], "a": {"y": True, "x": -3}}, "list": [{"b": 0, "a": 1}]},
]

# Bytes `decode` refuses: each is not what `encode` makes of any value.
REFUSED_ENCODINGS: dict[str, str] = {
    "empty input": "",
    "keys not sorted": "a2616201616102",
    "keys sorted as plain strings, not length-first": "a2626161016162" + "02",
    "duplicate key": "a2616101616102",
    "integer key": "a10102",
    "integer in more bytes than needed": "1805",
    "length in more bytes than needed": "580100",
    "indefinite-length list": "9f01ff",
    "indefinite-length bytes": "5f4100ff",
    "half float": "f93c00",
    "float64 of an integer past 2**53": "fb43b0000000000000",
    "bignum tag": "c24101",
    "date tag": "c11a5f5e1000",
    "null": "f6",
    "undefined": "f7",
    "simple value": "f0",
    "trailing byte": "0100",
    "truncated bytes": "4200",
    "text that is not UTF-8": "61ff",
    "nested deeper than 32": "81" * 33 + "00",
}


def primitives() -> dict[str, Any]:
    datas = [b"", b"abc", bytes(range(256))]
    tags = [b"gc/header", b"gc/valset", b"", b"exactly16bytes!!", b"a tag longer than 16 bytes"]
    for name, raw in REFUSED_ENCODINGS.items():
        try:
            decode(bytes.fromhex(raw))
        except EncodingError:
            continue
        raise AssertionError(f"decode accepts {name}")
    return {
        "hash32": [{"data": d.hex(), "hash": hash32(d).hex()} for d in datas],
        "tagged_hash": [
            {"tag": t.hex(), "data": d.hex(), "hash": tagged_hash(t, d).hex()}
            for t in tags
            for d in datas
        ],
        "encodings": [{"value": typed(v), "bytes": encode(v).hex()} for v in ENCODED_VALUES],
        "refused_encodings": [{"name": n, "bytes": raw} for n, raw in REFUSED_ENCODINGS.items()],
        "vote_sign_bytes": [
            {
                "chain_id": chain_id,
                "height": height,
                "round": round_,
                "type": int(kind),
                "block_hash": block_hash.hex(),
                "bytes": vote_sign_bytes(chain_id, height, round_, kind, block_hash).hex(),
            }
            for chain_id, height, round_, kind, block_hash in [
                (CHAIN, 1, 0, VoteType.PRECOMMIT, hash32(b"block")),
                (CHAIN, 2**40, 3, VoteType.PREVOTE, hash32(b"other")),
                ("é", 23, 24, VoteType.PRECOMMIT, b""),
            ]
        ],
    }


def merkle() -> dict[str, Any]:
    entries = [b"entry %d" % i for i in range(17)]
    leaves = [leaf_hash(e) for e in entries]
    sizes = [1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 16, 17]
    proof = inclusion_proof(leaves[:7], 3)
    root7 = root(leaves[:7])
    wrong = [proof[0], bytes(32), *proof[2:]]

    def case(name: str, leaf: bytes, index: int, size: int, path: list[bytes]) -> dict[str, Any]:
        return {
            "name": name,
            "leaf": leaf.hex(),
            "index": index,
            "size": size,
            "proof": [p.hex() for p in path],
            "root": root7.hex(),
            **refused(lambda: check_inclusion(leaf, index, size, path, root7)),
        }

    return {
        "entries": [e.hex() for e in entries],
        "leaves": [leaf.hex() for leaf in leaves],
        "roots": [root(leaves[:n]).hex() for n in range(len(leaves) + 1)],
        "inclusion": [
            {"index": i, "size": n, "proof": [p.hex() for p in inclusion_proof(leaves[:n], i)]}
            for n in sizes
            for i in range(n)
        ],
        "refused_inclusion": [
            case("a wrong proof node", leaves[3], 3, 7, wrong),
            case("another leaf", leaves[4], 3, 7, proof),
            case("another index", leaves[3], 2, 7, proof),
            case("an index past the tree", leaves[3], 7, 7, proof),
            case("a proof too short", leaves[3], 3, 7, proof[:-1]),
            case("a proof too long", leaves[3], 3, 7, [*proof, proof[0]]),
            case("a proof node not 32 bytes", leaves[3], 3, 7, [proof[0][:31], *proof[1:]]),
            case("another size", leaves[3], 3, 4, proof),
        ],
    }


# BLS


def small_x_key(on_curve: bool) -> bytes:
    """A compressed G1 encoding with the smallest x that is (or is not) on the curve
    y^2 = x^3 + 4; on it, the point is outside G1's prime-order subgroup."""
    p = bls12_381_FQ.field_modulus
    x = 1
    while True:
        rhs = (x**3 + 4) % p
        y = pow(rhs, (p + 1) // 4, p)
        if (y * y % p == rhs) == on_curve:
            data = bytearray(x.to_bytes(48, "big"))
            data[0] |= 0x80 | (0x20 if on_curve and y > (p - 1) // 2 else 0)
            return bytes(data)
        x += 1


def bls_vectors(keys: list[KeyPair]) -> dict[str, Any]:
    signing = [validator_bls_key(k) for k in keys]
    publics = [k.public_key for k in signing]
    pops = [bls.prove_possession(k) for k in signing]
    message = b"a message"
    signatures = [bls.sign(k, message) for k in signing]
    aggregate = bls.aggregate(signatures)
    negated = (-G1Point.from_compressed_bytes(publics[0])).to_compressed_bytes()
    bad_keys = {
        "47 bytes": publics[0][:47],
        "the identity": bytes([0xC0]) + bytes(47),
        "the identity with x bits set": bytes([0xC0]) + bytes(46) + b"\x01",
        "not compressed": bytes([publics[0][0] & 0x1F]) + publics[0][1:],
        "not on the curve": small_x_key(on_curve=False),
        "outside the subgroup": small_x_key(on_curve=True),
    }

    def pop_case(name: str, key: bytes, proof: bytes) -> dict[str, Any]:
        return {
            "name": name,
            "key": key.hex(),
            "proof": proof.hex(),
            **verdict(lambda: check_bls_registration(key, proof)),
        }

    def aggregate_case(name: str, keys: list[bytes], msg: bytes, sig: bytes) -> dict[str, Any]:
        ok = bls.fast_aggregate_verify(keys, msg, sig)
        return {"name": name, "keys": [k.hex() for k in keys], "message": msg.hex(), **ok_of(ok)}

    return {
        "key_validate": [
            *[
                {"name": f"validator {i}", "key": k.hex(), "ok": True}
                for i, k in enumerate(publics)
            ],
            *[
                {"name": name, "key": key.hex(), **refused(partial(bls.key_validate, key))}
                for name, key in bad_keys.items()
            ],
        ],
        "possession": [
            pop_case("its own proof", publics[0], pops[0]),
            pop_case("another key's proof", publics[0], pops[1]),
            pop_case(
                "the key signed under the signature tag",
                publics[0],
                bls.sign(signing[0], publics[0]),
            ),
            pop_case("a key that is the identity", bad_keys["the identity"], pops[0]),
        ],
        "verify": [
            {
                "name": name,
                "key": key.hex(),
                "message": msg.hex(),
                "signature": sig.hex(),
                **ok_of(bls.verify(key, msg, sig)),
            }
            for name, key, msg, sig in [
                ("a signature", publics[0], message, signatures[0]),
                ("another message", publics[0], b"another", signatures[0]),
                ("another key", publics[1], message, signatures[0]),
                ("a proof of possession is no signature", publics[0], publics[0], pops[0]),
            ]
        ],
        "aggregate": [
            {**aggregate_case(name, keys_, msg, sig), "signature": sig.hex()}
            for name, keys_, msg, sig in [
                ("every signer", publics, message, aggregate),
                ("one signer", publics[:1], message, signatures[0]),
                ("a signer missing", publics[1:], message, aggregate),
                ("another message", publics, b"another", aggregate),
                (
                    "keys that cancel",
                    [publics[0], negated],
                    message,
                    bls.aggregate([signatures[0]]),
                ),
            ]
        ],
    }


def ok_of(ok: bool) -> dict[str, Any]:
    return {"ok": ok}


# The chain


def build_chain(directory: Path) -> CouncilChain:
    chain = CouncilChain(directory / "chain", make_genesis())
    while chain.head.height < TOP:
        changes = COUNCIL.get(chain.head.height + 1)
        if changes:
            chain.decide(*changes)
        else:
            chain.produce()
    return chain


def keys_of(chain: CouncilChain, vset: ValidatorSet) -> list[KeyPair]:
    return [chain.keys[v.public_key] for v in vset.validators]


def resigned(chain: CouncilChain, block: LightBlock, **fields: Any) -> LightBlock:
    """`block` with header `fields` changed, certified again by its whole set (a validators=
    field changes the set too, and the header names it; a chain_id= field, the chain signed)."""
    vset: ValidatorSet = fields.pop("validators", block.validators)
    header = replace(block.header, validators_hash=validator_set_hash(vset), **fields)
    keys = keys_of(chain, vset)
    return LightBlock(header, vset, sign_commit(header.chain_id, vset, keys, header))


def with_commit(block: LightBlock, **fields: Any) -> LightBlock:
    assert block.commit is not None
    return replace(block, commit=replace(block.commit, **fields))


def too_little_stake(chain: CouncilChain, block: LightBlock) -> LightBlock:
    """`block` certified by a real aggregate of validators holding at most 2/3 of its set."""
    vset, signers = block.validators, list[Validator]()
    for v in vset.validators:
        if 3 * sum(s.blockstake for s in [*signers, v]) > 2 * vset.total_power:
            break
        signers.append(v)
    keys = [chain.keys[v.public_key] for v in signers]
    return replace(block, commit=sign_commit(CHAIN, vset, keys, block.header))


def forged_possession(chain: CouncilChain, block: LightBlock) -> LightBlock:
    """`block` under a set whose newcomer E carries F's proof of possession, certified by it."""
    pops = {v.public_key: v.bls_pop for v in block.validators.validators}
    forged = make_validator_set(
        [
            replace(v, bls_pop=pops[F.public_key]) if v.public_key == E.public_key else v
            for v in block.validators.validators
        ]
    )
    return resigned(chain, block, validators=forged)


def light_vectors(chain: CouncilChain, blocks: list[LightBlock]) -> dict[str, Any]:
    """Light blocks 0..TOP, then certificates and light verification, right and wrong."""
    hexes = [encode_light_block(b).hex() for b in blocks]

    def ref(block: LightBlock) -> int | str:
        raw = encode_light_block(block).hex()
        return hexes.index(raw) if raw in hexes else raw

    def certificate(name: str, block: LightBlock, chain_id: str = CHAIN) -> dict[str, Any]:
        return {
            "name": name,
            "chain_id": chain_id,
            "block": ref(block),
            **verdict(lambda: check_light_block(chain_id, block)),
        }

    def verify(name: str, trusted: LightBlock, untrusted: LightBlock) -> dict[str, Any]:
        return {
            "name": name,
            "chain_id": CHAIN,
            "trusted": ref(trusted),
            "untrusted": ref(untrusted),
            **verdict(lambda: verify_light_block(CHAIN, trusted, untrusted)),
        }

    eight, top = blocks[8], blocks[TOP]
    assert eight.commit is not None and top.commit is not None
    rogue_keys = NEWCOMERS[5:8]
    rogue = make_validator_set([validator_with_key(k, 1_000) for k in rogue_keys])
    lunatic_header = replace(blocks[5].header, validators_hash=validator_set_hash(rogue))
    lunatic = LightBlock(
        lunatic_header, rogue, sign_commit(CHAIN, rogue, rogue_keys, lunatic_header)
    )
    one_less = signer_bitmap(range(len(eight.validators.validators) - 1))
    past_the_set = signer_bitmap(range(len(top.validators.validators) + 1))
    decoded_wrong = {
        "a certificate at genesis": replace(blocks[0], commit=top.commit),
        "validators not sorted": replace(
            eight, validators=ValidatorSet(tuple(reversed(eight.validators.validators)))
        ),
    }
    return {
        "chain_id": CHAIN,
        "blocks": hexes,
        "validator_sets": [
            {
                "value": validator_set_to_json(vset),
                "bytes": encode_validator_set(vset).hex(),
                "hash": validator_set_hash(vset).hex(),
            }
            for vset in dict.fromkeys(b.validators for b in blocks)
        ],
        "certificates": [
            *[certificate(f"height {b.height}", b) for b in blocks[1:]],
            certificate("a signer's bit cleared", with_commit(eight, signers=one_less)),
            certificate("a bit past the set", with_commit(top, signers=past_the_set)),
            certificate("at most 2/3 of the stake", too_little_stake(chain, top)),
            certificate("another round's signature", with_commit(eight, round=1)),
            certificate(
                "a certificate of another block", with_commit(eight, block_hash=top.header.hash)
            ),
            certificate(
                "a set that is not the header's", replace(eight, validators=top.validators)
            ),
            certificate(
                "a block of another chain",
                resigned(chain, eight, chain_id=OTHER_CHAIN),
            ),
            certificate("checked as another chain's", eight, OTHER_CHAIN),
        ],
        "verify": [
            verify("adjacent", blocks[1], blocks[2]),
            verify("adjacent, the set changing", blocks[3], blocks[4]),
            verify("adjacent, a validator leaving", blocks[6], blocks[7]),
            verify("skipping from genesis, newcomers signing", blocks[0], eight),
            verify("skipping to the top", eight, top),
            verify("a skip the genesis set cannot vouch for", blocks[0], top),
            verify(
                "adjacent, not naming the trusted header",
                blocks[4],
                resigned(chain, blocks[5], prev_hash=blocks[3].header.hash),
            ),
            verify("adjacent, signed by another set", blocks[4], lunatic),
            verify(
                "adjacent, a tampered header",
                blocks[9],
                replace(blocks[10], header=replace(blocks[10].header, state_root=bytes(32))),
            ),
            verify(
                "adjacent, a signer's bit cleared", blocks[7], with_commit(eight, signers=one_less)
            ),
            verify("adjacent, at most 2/3 of the stake", blocks[7], too_little_stake(chain, eight)),
            verify(
                "skipping, a block of another chain",
                blocks[0],
                resigned(chain, eight, chain_id=OTHER_CHAIN),
            ),
            verify(
                "skipping, a newcomer's proof of possession forged",
                blocks[0],
                forged_possession(chain, eight),
            ),
            verify(
                "skipping, not later", eight, resigned(chain, top, time_ms=eight.header.time_ms)
            ),
            verify("skipping backwards", eight, blocks[4]),
        ],
        "refused_blocks": [
            {
                "name": name,
                "bytes": encode_light_block(block).hex(),
                **refused(partial(decode_light_block, encode_light_block(block))),
            }
            for name, block in decoded_wrong.items()
        ]
        + [
            {"name": name, "bytes": raw.hex(), **refused(partial(decode_light_block, raw))}
            for name, raw in [
                ("no certificate past genesis", light_block_bytes(top, commit=[])),
                (
                    "a signer bitmap ending in a zero byte",
                    light_block_bytes(top, signers=top.commit.signers + b"\x00"),
                ),
                ("not canonical", non_canonical(encode_light_block(top))),
            ]
        ],
    }


def light_block_bytes(block: LightBlock, **changes: Any) -> bytes:
    """`block`'s canonical bytes with fields of its value (or of its commit's) changed."""
    value = light_block_to_value(block)
    for name, item in changes.items():
        if name in value:
            value[name] = item
        else:
            value["commit"][0][name] = item
    return encode(value)


def non_canonical(data: bytes) -> bytes:
    """The same map with its first two keys swapped: valid CBOR, not the canonical bytes."""
    value = decode(data)
    keys = list(value)
    reordered = {keys[1]: value[keys[1]], keys[0]: value[keys[0]], **value}
    return bytes(cbor2.dumps(reordered))


def audit_vectors(chain: CouncilChain, blocks: list[LightBlock]) -> dict[str, Any]:
    """The chain's audit entries, and every one's inclusion proof at every size a header
    commits to."""
    with chain.store.snapshot() as snap:
        size = snap.audit_size()
        entries = [snap.audit_entry(i) for i in range(size)]
        committed = {b.header.audit_size: b.header.audit_root for b in reversed(blocks)}
        proofs = [
            {
                "index": i,
                "size": n,
                "proof": [p.hex() for p in snap.audit_inclusion_proof(i, n)],
                "root": committed[n].hex(),
            }
            for n in sorted(committed)
            for i in range(n)
        ]
    return {
        "entries": [
            {
                "index": i,
                "bytes": encode_entry(e).hex(),
                "leaf": entry_leaf(e).hex(),
                "view": entry_to_json(e),
            }
            for i, e in enumerate(entries)
            if e is not None
        ],
        "proofs": proofs,
    }


# The whole flow, over the node's own answers


async def crawl(client: TestClient[Any, Any], index: int, trusted: bytes) -> dict[str, Any]:
    """The node's answers to every request the reference flow makes, in its order."""
    api: dict[str, Any] = {}
    while True:
        try:
            run_flow(api, index, trusted)
            return api
        except Missing as missing:
            async with client.get(missing.path) as response:
                assert response.status == 200, await response.text()
                api[missing.path] = await response.json()


async def served(chain: CouncilChain, trusted: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    """The answers of the real API over the chain's store (which closing it closes): once as
    served, once with one light block per path answer (as a long path comes, in parts)."""
    node = NodeService(chain.store, chain.genesis, A, NodeConfig(verify_workers=0))
    client = TestClient(TestServer(make_app(node)))
    await client.start_server()
    whole = light_api.MAX_PATH_BLOCKS
    try:
        api = await crawl(client, ENTRY_INDEX, trusted)
        light_api.MAX_PATH_BLOCKS = 1
        paged = await crawl(client, ENTRY_INDEX, trusted)
    finally:
        light_api.MAX_PATH_BLOCKS = whole
        await client.close()
    return api, paged


def tampered_flows(
    chain: CouncilChain, blocks: list[LightBlock], api: dict[str, Any], trusted: bytes
) -> list[dict[str, Any]]:
    """Copies of the node's answers, each with one thing wrong, and where each flow stops."""
    proof_path = f"/v1/audit/entries/{ENTRY_INDEX}/proof"
    answer = api[proof_path]
    target = blocks[answer["header"]["height"]]
    light_path = f"/v1/light/path?from=0&to={target.height}"
    assert [b.height for b in map(decode_hex_block, api[light_path]["light_blocks"])] == [
        8,
        target.height,
    ]

    def proof_answer(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        changed = copy.deepcopy(answer)
        change(changed)
        return {proof_path: changed}

    def entry_flipped(view: dict[str, Any], leaf_too: bool) -> None:
        data = bytearray.fromhex(view["entry_bytes"])
        data[data.find(bytes.fromhex(view["entry"]["data"])) + 1] ^= 1
        view["entry_bytes"] = data.hex()
        if leaf_too:
            view["entry"]["leaf_hash"] = leaf_hash(bytes(data)).hex()
            view["entry"]["data"] = entry_to_json(entry_from_bytes(bytes(data)))["data"]

    def header_changed(view: dict[str, Any]) -> None:
        view["header"]["state_root"] = bytes(32).hex()
        view["header"]["hash"] = header_from_json(view["header"]).hash.hex()

    def on_path(*path_blocks: LightBlock) -> dict[str, Any]:
        raws = [encode_light_block(b).hex() for b in path_blocks]
        return {light_path: {**api[light_path], "light_blocks": raws}}

    def certified_by(block: LightBlock) -> dict[str, Any]:
        path = f"/v1/light/{target.height}"
        return {path: {**api[path], "light_block": encode_light_block(block).hex()}}

    eight = blocks[8]
    signed = target.validators.validators
    fewer = signer_bitmap(range(len(eight.validators.validators) - 1))
    flows: list[tuple[str, str, dict[str, Any], bytes]] = [
        ("an entry byte flipped", "leaf", proof_answer(lambda v: entry_flipped(v, False)), trusted),
        (
            "the entry shown is not its bytes",
            "leaf",
            proof_answer(lambda v: v["entry"].update(topic="another topic")),
            trusted,
        ),
        (
            "an entry and its leaf changed together",
            "inclusion",
            proof_answer(lambda v: entry_flipped(v, True)),
            trusted,
        ),
        (
            "a wrong proof node",
            "inclusion",
            proof_answer(lambda v: v["proof"].__setitem__(1, bytes(32).hex())),
            trusted,
        ),
        (
            "a size the header does not commit to",
            "inclusion",
            proof_answer(lambda v: v.update(size=v["size"] - 1)),
            trusted,
        ),
        ("a header field changed", "header", proof_answer(header_changed), trusted),
        (
            "a header's hash field not its contents",
            "header",
            proof_answer(lambda v: v["header"].update(hash=hash32(b"x").hex())),
            trusted,
        ),
        ("another genesis trusted", "light_path", {}, hash32(b"another genesis")),
        ("the genesis file's hash trusted", "light_path", {}, blocks[0].header.prev_hash),
        (
            "a genesis light block with another set",
            "light_path",
            {
                "/v1/light/0": {
                    **api["/v1/light/0"],
                    "light_block": encode_light_block(
                        replace(blocks[0], validators=target.validators)
                    ).hex(),
                }
            },
            trusted,
        ),
        ("a path that stops short", "light_path", on_path(), trusted),
        ("a skip the genesis set cannot vouch for", "light_path", on_path(target), trusted),
        (
            "a path to another header of that height, which its signers also signed",
            "light_path",
            on_path(eight, resigned(chain, target, state_root=bytes(32))),
            trusted,
        ),
        ("a path past the header's height", "light_path", on_path(eight, blocks[TOP]), trusted),
        (
            "a path block with a signer's bit cleared",
            "light_path",
            on_path(with_commit(eight, signers=fewer), target),
            trusted,
        ),
        (
            "a path block of another chain",
            "light_path",
            on_path(resigned(chain, eight, chain_id=OTHER_CHAIN), target),
            trusted,
        ),
        (
            "a path block whose newcomer forged its proof of possession",
            "light_path",
            on_path(forged_possession(chain, eight), target),
            trusted,
        ),
        (
            "a certificate naming a validator past its set",
            "certificate",
            certified_by(with_commit(target, signers=signer_bitmap(range(len(signed) + 1)))),
            trusted,
        ),
        (
            "a certificate of at most 2/3 of the stake",
            "certificate",
            certified_by(too_little_stake(chain, target)),
            trusted,
        ),
    ]
    out = []
    for name, step, changes, trusted_hash in flows:
        result = run_flow({**api, **changes}, ENTRY_INDEX, trusted_hash)
        assert result["steps"][-1] == {"name": step, "ok": False}, (name, result)
        out.append(
            {"name": name, "replace": changes, "trusted_genesis_hash": trusted_hash.hex(), **result}
        )
    return out


def decode_hex_block(raw: str) -> LightBlock:
    return decode_light_block(bytes.fromhex(raw))


# All of it


def compute() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as scratch:
        chain = build_chain(Path(scratch))
        try:
            blocks = [light_block_at(chain.store, h) for h in range(TOP + 1)]
            assert all(b is not None for b in blocks)
            known = [b for b in blocks if b is not None]
            trusted = known[0].header.hash
            vectors = {
                **primitives(),
                "merkle": merkle(),
                "bls": bls_vectors([A, B, C, D]),
                "headers": [
                    {
                        "view": header_to_json(b.header),
                        "bytes": encode(header_to_value(b.header)).hex(),
                    }
                    for b in known
                ],
                "audit": audit_vectors(chain, known),
                "light": light_vectors(chain, known),
            }
            api, paged = asyncio.run(served(chain, trusted))
        finally:
            if not chain.store.closed:
                chain.store.close()
    vectors["flow"] = {
        "index": ENTRY_INDEX,
        "trusted_genesis_hash": trusted.hex(),
        "api": api,
        # The answers that differ when a path comes one light block at a time.
        "paged_answers": {
            path: answer for path, answer in paged.items() if api.get(path) != answer
        },
        **run_flow(api, ENTRY_INDEX, trusted),
        "tampered": tampered_flows(chain, known, api, trusted),
    }
    assert vectors["flow"]["ok"] and run_flow(paged, ENTRY_INDEX, trusted)["ok"]
    return vectors


def main(argv: list[str]) -> int:
    vectors = compute()
    text = json.dumps(vectors, indent=1, sort_keys=True) + "\n"
    if argv[1:] == ["--write"]:
        FILE.write_text(text)
        print(f"wrote {FILE}")
        return 0
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
