"""Fuzz targets: every decoder that reads bytes from outside, with the errors it documents.

A target takes arbitrary bytes. The decoder may refuse them only with its documented errors
(a rule error naming what is wrong; for files, the file's own error); any other exception is a
bug. What a decoder accepts must be canonical: encoded again, it gives back the same bytes, so
one value never has two encodings (what would let a signed or hashed thing be malleable).
"""

import json
import tempfile
from collections.abc import Callable
from pathlib import Path

import nacl.public

from chain.blocks.block import decode_block, encode_block
from chain.blocks.commit import decode_commit, encode_commit
from chain.blocks.evidence import decode_evidence, encode_evidence
from chain.blocks.votes import decode_vote, encode_vote
from chain.deployment.spec import decode_spec
from chain.encoding import encode
from chain.errors import RuleViolation
from chain.keys import KeyFileError, keypair_from_seed
from chain.ledger.transactions import decode_tx, signed_tx_to_value
from chain.light.blocks import decode_light_block, encode_light_block
from chain.snapshot.chunks import decode_chunk, encode_chunk
from chain.snapshot.manifest import (
    decode_headers,
    decode_manifest,
    encode_headers,
    encode_manifest,
)
from chain.staking.validators import decode_validator_set, encode_validator_set
from contracts_std.spec import load_spec
from genesis.schema import GenesisFileError, parse_genesis
from node.consensus.wal import MAX_RECORD, parse
from node.keystore import Keystore, KeystoreError
from node.p2p.link import TOKEN_SIZE, LinkError, answer_hello, finish_as_client
from node.p2p.messages import decode_message, encode_message

Target = Callable[[bytes], None]


def tx(data: bytes) -> None:
    try:
        decoded = decode_tx(data)
    except RuleViolation:
        return
    assert encode(signed_tx_to_value(decoded)) == data


def block(data: bytes) -> None:
    try:
        decoded = decode_block(data)
    except RuleViolation:
        return
    assert encode_block(decoded) == data


def commit(data: bytes) -> None:
    try:
        decoded = decode_commit(data)
    except RuleViolation:
        return
    assert encode_commit(decoded) == data


def vote(data: bytes) -> None:
    try:
        decoded = decode_vote(data)
    except RuleViolation:
        return
    assert encode_vote(decoded) == data


def evidence(data: bytes) -> None:
    try:
        decoded = decode_evidence(data)
    except RuleViolation:
        return
    assert encode_evidence(decoded) == data


def light_block(data: bytes) -> None:
    try:
        decoded = decode_light_block(data)
    except RuleViolation:
        return
    assert encode_light_block(decoded) == data


def manifest(data: bytes) -> None:
    try:
        decoded = decode_manifest(data)
    except RuleViolation:
        return
    assert encode_manifest(decoded) == data


def chunk(data: bytes) -> None:
    try:
        decoded = decode_chunk(data)
    except RuleViolation:
        return
    assert encode_chunk(decoded) == data


def headers(data: bytes) -> None:
    try:
        decoded = decode_headers(data)
    except RuleViolation:
        return
    assert encode_headers(decoded) == data


def validator_set(data: bytes) -> None:
    try:
        decoded = decode_validator_set(data)
    except RuleViolation:
        return
    assert encode_validator_set(decoded) == data


def peer_message(data: bytes) -> None:
    try:
        decoded = decode_message(data)
    except RuleViolation:
        return
    assert encode_message(decoded) == data


# The handshake's ends, with fixed keys: a peer's hello as the server reads it, and a server's
# answer as the dialer reads it (the dialer's ephemeral secret fixed, so a seed answer fits).
NETWORK = b"fuzz-network"
SERVER_KEY = keypair_from_seed(b"s" * 32)
CLIENT_KEY = keypair_from_seed(b"c" * 32)
CLIENT_EPHEMERAL = nacl.public.PrivateKey(b"e" * 32)


def hello(data: bytes) -> None:
    try:
        answer_hello(data, SERVER_KEY, NETWORK, b"t" * TOKEN_SIZE)
    except LinkError:
        return


def handshake_answer(data: bytes) -> None:
    try:
        finish_as_client(data, CLIENT_EPHEMERAL, CLIENT_KEY, NETWORK, lambda key: True, None)
    except LinkError:
        return


def wal(data: bytes) -> None:
    """A WAL file as a crash may leave it: never an error, the good records and where they
    end, each within the record limit."""
    records, end = parse(data)
    assert 0 <= end <= len(data) and all(len(r) <= MAX_RECORD for r in records)


def spec(data: bytes) -> None:
    try:
        decode_spec(data)
    except RuleViolation:
        return


def _json(data: bytes) -> object | None:
    try:
        return json.loads(data)
    except (ValueError, RecursionError):  # not JSON: refused before any of ours runs
        return None


def spec_file(data: bytes) -> None:
    document = _json(data)
    if document is None:
        return
    try:
        load_spec(document)
    except RuleViolation:
        return


def genesis(data: bytes) -> None:
    document = _json(data)
    if document is None:
        return
    try:
        parse_genesis(document)
    except GenesisFileError:
        return


def keystore(data: bytes) -> None:
    """A key file as `Keystore.load` reads it. The key derivation's cost is bounded by the
    reader (and is not what is tested): costly parameters are lowered first."""
    document = _json(data)
    if isinstance(document, dict):
        for name in ("opslimit", "memlimit"):
            if isinstance(document.get(name), int) and document[name] > 2**16:
                document[name] = 2**16 if name == "memlimit" else 1
        data = json.dumps(document).encode()
    with tempfile.TemporaryDirectory() as directory:
        (Path(directory) / "fuzzed.json").write_bytes(data)
        try:
            Keystore(Path(directory)).load("fuzzed", "passphrase")
        except (KeystoreError, KeyFileError):
            return


TARGETS: dict[str, Target] = {
    "tx": tx,
    "block": block,
    "commit": commit,
    "vote": vote,
    "evidence": evidence,
    "light_block": light_block,
    "validator_set": validator_set,
    "manifest": manifest,
    "chunk": chunk,
    "headers": headers,
    "peer_message": peer_message,
    "hello": hello,
    "handshake_answer": handshake_answer,
    "wal": wal,
    "spec": spec,
    "spec_file": spec_file,
    "genesis": genesis,
    "keystore": keystore,
}
