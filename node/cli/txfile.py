"""Transaction files: a multisig transaction signed without a shared machine.

One member builds the transaction (`--out FILE` on a command that sends one) and signs it or
not; each other member adds a signature on their own machine (`gridchain tx sign FILE --key`);
the files are merged (`tx combine`) and the result sent (`tx send`). A file holds the canonical
body (what every signature covers, through the transaction id), the signatures so far, and a
readable view; every signature in it is checked whenever a file is read, so a file never passes
on a signature that does not verify. The view is for people reading the file and is never read
back: what a signer is shown is decoded from the body, which is what the signature covers.
"""

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from chain.encoding import decode, encode
from chain.errors import RuleViolation
from chain.keys import PUBLIC_KEY_SIZE, SIGNATURE_SIZE, KeyPair
from chain.ledger.transactions import (
    SignedTx,
    TxSignature,
    body_from_value,
    body_to_value,
    check_signatures,
    tx_to_json,
)
from node.cli.common import CliError
from node.config import write_file_atomically

FILE_KIND = "gridchain-transaction"


def write_tx_file(path: Path, tx: SignedTx) -> None:
    document = {
        "kind": FILE_KIND,
        "id": tx.id.hex(),
        "body": encode(body_to_value(tx.body)).hex(),
        "signatures": [
            {"public_key": s.public_key.hex(), "signature": s.signature.hex()}
            for s in tx.signatures
        ],
        "view": tx_to_json(tx),
    }
    write_file_atomically(path, json.dumps(document, indent=2) + "\n")


def read_tx_file(path: Path) -> SignedTx:
    """The transaction in `path`, every signature in it checked."""
    try:
        document = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise CliError(f"{path} is not JSON: {exc}", "invalid_tx_file") from None
    if not isinstance(document, dict) or document.get("kind") != FILE_KIND:
        raise CliError(f"{path} is not a transaction file (kind {FILE_KIND})", "invalid_tx_file")
    try:
        body = body_from_value(decode(bytes.fromhex(str(document.get("body")))))
        signatures = tuple(_signature(item) for item in document.get("signatures") or [])
    except (ValueError, TypeError, AttributeError, KeyError):
        raise CliError(
            f"{path}: the body or a signature is missing or not hex", "invalid_tx_file"
        ) from None
    except RuleViolation as exc:
        raise CliError(f"{path}: {exc.message}", "invalid_tx_file") from None
    tx = with_signatures(SignedTx(body, ()), signatures)
    try:
        check_signatures(tx)
    except RuleViolation as exc:
        raise CliError(f"{path}: {exc.message}", exc.code) from None
    return tx


def _signature(item: Any) -> TxSignature:
    public_key = bytes.fromhex(item["public_key"])
    signature = bytes.fromhex(item["signature"])
    if len(public_key) != PUBLIC_KEY_SIZE or len(signature) != SIGNATURE_SIZE:
        raise ValueError("wrong size")
    return TxSignature(public_key, signature)


def with_signatures(tx: SignedTx, signatures: Sequence[TxSignature]) -> SignedTx:
    """`tx` with `signatures` added: one per key, sorted by key (the canonical order)."""
    by_key = {s.public_key: s for s in (*tx.signatures, *signatures)}
    return SignedTx(tx.body, tuple(by_key[k] for k in sorted(by_key)))


def signed_by(tx: SignedTx, keys: Sequence[KeyPair]) -> SignedTx:
    return with_signatures(tx, [TxSignature(k.public_key, k.sign(tx.id)) for k in keys])


def combined(txs: Sequence[tuple[Path, SignedTx]]) -> SignedTx:
    """The signatures of every file merged; they must all be of one transaction."""
    (first_path, first), *rest = txs
    for path, tx in rest:
        if tx.id != first.id:
            raise CliError(
                f"{path} is another transaction ({tx.id.hex()}) than {first_path} "
                f"({first.id.hex()})",
                "different_transactions",
            )
    return with_signatures(first, [s for _, tx in rest for s in tx.signatures])
