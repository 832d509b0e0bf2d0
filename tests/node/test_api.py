"""The HTTP API in-process (aiohttp test client) over a real node and a real LevelDB."""

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from openapi_spec_validator import OpenAPIV31SpecValidator

from chain import smt
from chain.address import key_address, multisig_address
from chain.encoding import encode
from chain.hashing import hash32
from chain.keys import KeyPair
from chain.ledger.transactions import SignedTx, TxSignature
from chain.staking.validators import decode_validator_set, validator_set_hash
from chain.state import Account
from node.api.body import MAX_JSON_DEPTH, nesting_depth
from node.api.explorer import PREFIX as EXPLORER
from tests.kit.support import CHAIN_ID, dev_key, transfer


async def submit(client: TestClient[Any, Any], tx: SignedTx | bytes) -> tuple[int, Any]:
    raw = tx if isinstance(tx, bytes) else tx.encoded
    response = await client.post("/v1/txs", json={"tx": raw.hex()})
    return response.status, await response.json()


async def account(client: TestClient[Any, Any], address: object) -> Any:
    response = await client.get(f"/v1/accounts/{address}")
    assert response.status == 200
    return await response.json()


async def test_transfer_lands_in_a_block_with_a_verifiable_proof(api: Any) -> None:
    client, node, th = api
    tx = transfer(th.alice, th.bob_address, 250, nonce=0, fee=3)
    status, body = await submit(client, tx)
    assert (status, body) == (202, {"id": tx.id.hex(), "status": "pending"})
    pending = await (await client.get(f"/v1/txs/{tx.id.hex()}")).json()
    assert pending["status"] == "pending"
    header = await node.produce_block()

    found = await (await client.get(f"/v1/txs/{tx.id.hex()}")).json()
    assert found["status"] == "committed"
    assert found["block"] == {"height": header.height, "hash": header.hash.hex()}
    assert found["receipt"]["fee"] == 3

    bob = await account(client, th.bob_address)
    alice = await account(client, th.alice_address)
    assert bob["balance"] == 1000 + 250
    assert alice["balance"] == 10**12 - 253 and alice["nonce"] == 1
    proposer = await account(client, key_address(th.validator.public_key))
    assert proposer["balance"] == 3

    block = await (await client.get(f"/v1/blocks/{bob['height']}")).json()
    root = bytes.fromhex(block["header"]["state_root"])
    assert block["header"]["hash"] == bob["block_hash"] and root.hex() == bob["state_root"]
    proof = smt.Proof.from_dict(bob["proof"])
    key = bytes.fromhex(bob["state_key"])
    assert smt.verify(root, key, hash32(bytes.fromhex(bob["value"])), proof)
    assert not smt.verify(root, key, hash32(b"another value"), proof)
    assert block["commit"]["block_hash"] == header.hash.hex()


async def test_absent_account_has_a_non_membership_proof(api: Any) -> None:
    client, _, _ = api
    stranger = key_address(dev_key("stranger").public_key)
    body = await account(client, stranger)
    assert body["exists"] is False and body["balance"] == 0 and body["value"] is None
    proof = smt.Proof.from_dict(body["proof"])
    root, key = bytes.fromhex(body["state_root"]), bytes.fromhex(body["state_key"])
    assert smt.verify(root, key, None, proof)


def _resigned(tx: SignedTx, key: KeyPair, message: bytes) -> SignedTx:
    return SignedTx(tx.body, (TxSignature(key.public_key, key.sign(message)),))


@pytest.mark.parametrize(
    "case, code",
    [
        ("malformed", "malformed_encoding"),
        ("bad_signature", "bad_signature"),
        ("wrong_chain", "wrong_chain"),
        ("stale_nonce", "stale_nonce"),
        ("future_nonce", "future_nonce"),
        ("overspend", "insufficient_balance"),
        ("replayed", "duplicate"),
        ("unknown_sender", "unknown_account"),
    ],
)
async def test_bad_transactions_get_a_clear_error_and_change_nothing(
    api: Any, case: str, code: str
) -> None:
    client, node, th = api
    first = transfer(th.alice, th.bob_address, 5, nonce=0)
    assert (await submit(client, first))[0] == 202
    await node.produce_block()
    before = [await account(client, a) for a in (th.alice_address, th.bob_address)]
    bad: SignedTx | bytes
    if case == "malformed":
        bad = first.encoded[:-3]
    elif case == "bad_signature":
        bad = _resigned(transfer(th.alice, th.bob_address, 5, nonce=1), th.alice, b"other")
    elif case == "wrong_chain":
        bad = transfer(th.alice, th.bob_address, 5, nonce=1, chain_id="other-chain")
    elif case == "stale_nonce":
        bad = transfer(th.alice, th.bob_address, 6, nonce=0)
    elif case == "future_nonce":
        bad = transfer(th.alice, th.bob_address, 5, nonce=7)
    elif case == "overspend":
        bad = transfer(th.bob, th.alice_address, 1005, nonce=0)  # bob holds 1005
    elif case == "replayed":
        bad = first
    else:
        bad = transfer(dev_key("nobody"), th.bob_address, 1, nonce=0)
    status, body = await submit(client, bad)
    assert status in (400, 409), body
    assert body["error"]["code"] == code, body
    assert body["error"]["message"]
    await node.produce_block()
    after = [await account(client, a) for a in (th.alice_address, th.bob_address)]
    for b, a in zip(before, after, strict=True):
        assert (a["balance"], a["nonce"]) == (b["balance"], b["nonce"])


async def test_batch_submission_reports_each_transaction(api: Any) -> None:
    client, node, th = api
    good = [transfer(th.alice, th.bob_address, 1, nonce=n) for n in range(600)]
    bad = transfer(th.alice, th.bob_address, 1, nonce=600, chain_id="elsewhere")
    forged = _resigned(transfer(th.alice, th.bob_address, 1, nonce=600), th.bob, b"x")
    items = [tx.encoded.hex() for tx in [*good, bad, forged]] + ["a0"]
    response = await client.post("/v1/txs/batch", json={"txs": items})
    body = await response.json()
    assert response.status == 200 and body["accepted"] == 600
    codes = [r.get("error", {}).get("code") for r in body["results"][600:]]
    assert codes == ["wrong_chain", "bad_signature", "malformed_encoding"]
    header = await node.produce_block()
    assert header.tx_count == 600
    assert (await account(client, th.bob_address))["balance"] == 1600


async def test_a_binary_batch_is_checked_and_answered_as_the_json_one(api: Any) -> None:
    client, node, th = api
    good = [transfer(th.alice, th.bob_address, 1, nonce=n) for n in range(3)]
    bad = transfer(th.alice, th.bob_address, 1, nonce=3, chain_id="elsewhere")
    body = encode([tx.encoded for tx in [*good, bad]] + [b"\xa0"])
    cbor = {"Content-Type": "application/cbor"}
    response = await client.post("/v1/txs/batch", data=body, headers=cbor)
    answer = await response.json()
    assert response.status == 200 and answer["accepted"] == 3
    assert [r["id"] for r in answer["results"][:3]] == [tx.id.hex() for tx in good]
    codes = [r.get("error", {}).get("code") for r in answer["results"][3:]]
    assert codes == ["wrong_chain", "malformed_encoding"]
    assert (await node.produce_block()).tx_count == 3
    for wrong, why in [
        (b"\xff\x00", "not a CBOR array"),
        (encode({"txs": []}), "not a CBOR array"),
        (encode(["hex, not bytes"]), "txs[0]"),
        (encode([b"x"] * 10_001), "txs"),
    ]:
        response = await client.post("/v1/txs/batch", data=wrong, headers=cbor)
        error = (await response.json())["error"]
        assert (response.status, error["code"]) == (400, "invalid_request") and why in error[
            "message"
        ]


async def test_request_errors_are_json(api: Any) -> None:
    client, _, _ = api
    cases = [
        ("GET", "/v1/accounts/not-an-address", 400, "invalid_address"),
        ("GET", "/v1/blocks/99999", 404, "not_found"),
        ("GET", "/v1/blocks/nonsense", 400, "invalid"),
        ("GET", "/v1/txs/abcd", 400, "invalid"),
        ("GET", "/v1/txs/" + "00" * 32, 404, "not_found"),
        ("GET", "/no/such/route", 404, "not_found"),
    ]
    for method, path, status, code in cases:
        response = await client.request(method, path)
        body = await response.json()
        assert (response.status, body["error"]["code"]) == (status, code), path
    response = await client.post("/v1/txs", data=b"{not json")
    assert response.status == 400 and (await response.json())["error"]["code"] == "invalid_request"
    for path in ("/v1/txs", "/v1/txs/batch"):  # found by schemathesis: once a 500
        response = await client.post(
            path, data=b"\xff&7", headers={"Content-Type": "application/json"}
        )
        assert response.status == 400 and "UTF-8" in (await response.json())["error"]["message"]
    response = await client.post("/v1/txs", json={"tx": "zz", "extra": 1})
    body = await response.json()
    assert response.status == 400 and body["error"]["code"] == "invalid_request"
    assert "tx" in body["error"]["message"] and "extra" in body["error"]["message"]


async def test_status_metrics_and_openapi(api: Any) -> None:
    client, node, th = api
    await submit(client, transfer(th.alice, th.bob_address, 1, nonce=0))
    await node.produce_block()
    status = await (await client.get("/v1/status")).json()
    assert status["chain_id"] == CHAIN_ID and status["height"] == 1
    metrics = await (await client.get("/metrics")).text()
    assert "gridchain_height 1.0" in metrics
    assert "gridchain_txs_applied_total 1.0" in metrics
    spec = await (await client.get("/v1/openapi.json")).json()
    assert spec["openapi"].startswith("3.")
    routes = {r.resource.canonical for r in client.server.app.router.routes()}  # type: ignore[union-attr]
    assert {p for p in spec["paths"]} <= routes
    assert "/v1/validators" in spec["paths"]
    validators = await (await client.get("/v1/validators")).json()
    assert [v["public_key"] for v in validators["validators"]] == [th.validator.public_key.hex()]
    assert validators["jailed"] == [] and validators["height"] == 1


async def test_validator_sets_by_hash_and_certificate_signers(api: Any) -> None:
    """Each header names the set that signed it; the node serves that set by its hash, and a
    block view names its certificates' signers."""
    client, node, th = api
    await node.produce_block()
    await node.produce_block()
    block = await (await client.get("/v1/blocks/2")).json()
    set_hash = block["header"]["validators_hash"]
    view = await (await client.get(f"/v1/validator-sets/{set_hash}")).json()
    vset = decode_validator_set(bytes.fromhex(view["encoded"]))
    assert validator_set_hash(vset).hex() == set_hash == view["hash"]
    assert [v["public_key"] for v in view["validators"]] == [th.validator.public_key.hex()]
    me = th.validator.public_key.hex()
    assert block["commit"]["validators"] == block["last_commit"]["validators"] == [me]
    assert block["commit"]["signers"] == "01" and len(block["commit"]["signature"]) == 192
    for path, status in (
        ("/v1/validator-sets/" + "00" * 32, 404),
        ("/v1/validator-sets/" + "00" * 31, 400),
        ("/v1/validator-sets/zz", 400),
    ):
        response = await client.get(path)
        assert response.status == status, path
    validators = await (await client.get("/v1/validators")).json()
    assert validators["pending"] == []


async def test_non_hex_ids_are_client_errors(api: Any) -> None:
    client, _, _ = api
    for path in ("/v1/txs/" + "zz" * 32, "/v1/blocks/" + "zz" * 32):
        response = await client.get(path)
        body = await response.json()
        assert response.status == 400 and "not hex" in body["error"]["message"], path


async def test_a_digit_int_refuses_is_a_client_error(api: Any) -> None:
    client, _, _ = api
    for path in ("/v1/blocks/\u00b2", "/v1/light/\u00b2"):  # "²": str.isdigit says yes
        response = await client.get(path)
        assert response.status == 400, path
        assert (await response.json())["error"]["code"] == "invalid", path


async def test_credits_to_a_multisig_address_without_an_account_are_refused(api: Any) -> None:
    client, node, th = api
    squatted = multisig_address(th.alice_address, 5)
    status, body = await submit(client, transfer(th.alice, squatted, 1, nonce=0))
    assert status == 400 and body["error"]["code"] == "invalid_transaction"
    assert "no multisig account" in body["error"]["message"]
    await node.produce_block()
    assert (await account(client, squatted))["exists"] is False


async def test_a_transaction_left_out_of_a_block_reports_why(api: Any) -> None:
    client, node, th = api
    # Admission normally stops this; put it in the mempool as if bob's balance had been
    # larger when it was admitted, so the block builder is the one that refuses it.
    overspend = transfer(th.bob, th.alice_address, 5000, nonce=0)
    node.mempool.add(overspend, Account(balance=10**6), min_fee=1)
    header = await node.produce_block()
    assert header.tx_count == 0
    body = await (await client.get(f"/v1/txs/{overspend.id.hex()}")).json()
    assert body["status"] == "rejected"
    assert body["error"]["code"] == "insufficient_balance"
    assert overspend.id not in node.mempool


async def test_json_nested_too_deep_is_a_clear_400(api: Any) -> None:
    """A 2 KiB body of 1,000 nested lists once made the JSON reader recurse into a 500, and
    100,000 of them overflowed the C stack once py_ecc had raised the recursion limit: the
    depth is checked before the reader runs."""
    import py_ecc  # noqa: F401 - raises the recursion limit to 100,000, as in a node with it

    client, _, _ = api
    for depth in (65, 1000, 100_000):
        body = '{"tx": ' + "[" * depth + "]" * depth + "}"
        response = await client.post(
            "/v1/txs", data=body, headers={"Content-Type": "application/json"}
        )
        error = (await response.json())["error"]
        assert (response.status, error["code"]) == (400, "invalid_request")
        assert "nested too deep" in error["message"]


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ('{"a": [1, {"b": []}]}', 3),
        ('{"a": "[[[[[[[[[[[[[[[["}', 1),  # brackets inside strings do not count
        ('["\\", [""[["]]', 2),  # nor escaped quotes
        ("[" * 70 + "]" * 70, 70),
        ("[[]," * 40 + "]" * 40, 41),  # siblings closed between levels
    ],
)
def test_nesting_depth(text: str, depth: int) -> None:
    assert nesting_depth(text) >= depth if depth <= MAX_JSON_DEPTH else nesting_depth(text) == depth


async def test_the_openapi_document_is_valid_and_lists_every_route(api: Any) -> None:
    client, _, _ = api
    spec = await (await client.get("/v1/openapi.json")).json()
    errors = [str(e).splitlines()[0] for e in OpenAPIV31SpecValidator(spec).iter_errors()]
    assert errors == []
    served = {
        (route.method.lower(), route.resource.canonical)
        for route in client.server.app.router.routes()
        if route.resource is not None
        and route.method != "HEAD"
        # the explorer's web pages and files (node/api/explorer.py) are no part of the API
        and not route.resource.canonical.startswith(EXPLORER)
    }
    documented = {(method, path) for path, ops in spec["paths"].items() for method in ops}
    assert served - documented == set(), "served but not documented"


async def test_a_wrong_method_is_a_json_405_that_says_what_is_allowed(api: Any) -> None:
    client, _, _ = api
    response = await client.delete("/v1/txs")
    assert response.status == 405 and "POST" in response.headers["Allow"]
    assert (await response.json())["error"]["code"] == "method_not_allowed"
    # The batch route takes POST only: GET is not a lookup of a transaction named "batch".
    response = await client.get("/v1/txs/batch")
    assert response.status == 405 and response.headers["Allow"] == "POST"
