"""Transaction files (node/cli/txfile.py): a multisig transaction signed on several machines,
each file's signatures checked whenever it is read."""

import json
from pathlib import Path

import pytest

from chain.address import key_address, multisig_address
from chain.hashing import hash32
from chain.keys import keypair_from_seed
from chain.ledger.transactions import Transfer, TxBody, sign_tx
from node.cli.common import CliError
from node.cli.txfile import combined, read_tx_file, signed_by, write_tx_file

A, B, C = (keypair_from_seed(hash32(b"txfile %d" % i)) for i in range(3))
SENDER = multisig_address(key_address(A.public_key), 0)


def body(amount: int = 5) -> TxBody:
    return TxBody("gridchain-test", SENDER, 0, 1, Transfer(multisig_address(SENDER, 1), amount))


def test_members_sign_apart_and_the_files_combine(tmp_path: Path) -> None:
    start = sign_tx(body(), [])
    write_tx_file(tmp_path / "tx.json", start)
    assert read_tx_file(tmp_path / "tx.json") == start  # no signature yet is a valid file
    write_tx_file(tmp_path / "a.json", signed_by(read_tx_file(tmp_path / "tx.json"), [A]))
    write_tx_file(tmp_path / "b.json", signed_by(read_tx_file(tmp_path / "tx.json"), [B, A]))
    merged = combined([(p, read_tx_file(p)) for p in (tmp_path / "a.json", tmp_path / "b.json")])
    assert merged == sign_tx(body(), [A, B])  # one signature per key, in the canonical order
    view = json.loads((tmp_path / "a.json").read_text())
    assert view["id"] == start.id.hex() and view["view"]["type"] == "transfer"


def test_a_signature_that_does_not_verify_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tx.json"
    write_tx_file(path, sign_tx(body(), [A, B]))
    document = json.loads(path.read_text())
    document["signatures"][0]["signature"] = "00" * 64
    path.write_text(json.dumps(document))
    with pytest.raises(CliError, match="does not verify"):
        read_tx_file(path)


def test_a_changed_body_breaks_every_signature(tmp_path: Path) -> None:
    path = tmp_path / "tx.json"
    write_tx_file(path, sign_tx(body(), [A]))
    other = tmp_path / "other.json"
    write_tx_file(other, sign_tx(body(amount=6), []))
    document = json.loads(path.read_text())
    document["body"] = json.loads(other.read_text())["body"]
    path.write_text(json.dumps(document))
    with pytest.raises(CliError, match="does not verify"):
        read_tx_file(path)


def test_files_of_different_transactions_do_not_combine(tmp_path: Path) -> None:
    one, two = sign_tx(body(5), [A]), sign_tx(body(6), [C])
    with pytest.raises(CliError, match="is another transaction"):
        combined([(tmp_path / "1", one), (tmp_path / "2", two)])


@pytest.mark.parametrize(
    "content",
    ["not json", "{}", json.dumps({"kind": "gridchain-transaction", "body": "zz"})],
)
def test_what_is_not_a_transaction_file_is_refused(tmp_path: Path, content: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(CliError) as caught:
        read_tx_file(path)
    assert caught.value.code == "invalid_tx_file"


@pytest.mark.parametrize("field", ["public_key", "signature"])
def test_a_signature_entry_missing_a_field_is_refused_by_name(tmp_path: Path, field: str) -> None:
    path = tmp_path / "tx.json"
    write_tx_file(path, sign_tx(body(), [A]))
    document = json.loads(path.read_text())
    del document["signatures"][0][field]
    path.write_text(json.dumps(document))
    with pytest.raises(CliError, match="missing or not hex") as caught:
        read_tx_file(path)
    assert caught.value.code == "invalid_tx_file"


def test_the_readable_view_is_never_read_back(tmp_path: Path) -> None:
    """Editing the view changes nothing: what is read (and shown to a signer) is the body."""
    path = tmp_path / "tx.json"
    write_tx_file(path, sign_tx(body(5), []))
    document = json.loads(path.read_text())
    document["view"]["payload"]["amount"] = 1
    path.write_text(json.dumps(document))
    assert read_tx_file(path).body == body(5)
