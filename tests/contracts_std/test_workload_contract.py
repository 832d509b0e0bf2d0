"""The multisig workload contract on a real chain: requirements, signatures, updates, expiry,
and what each step leaves in receipts and the audit log."""

from chain.address import Address, key_address
from chain.deployment.records import (
    ENDED,
    PLACING,
    DeploymentRef,
    read_deployment,
    read_deployment_spec,
)
from chain.encoding import decode
from chain.hashing import hash32
from chain.keys import KeyPair
from chain.state import read_account
from contracts_std.requirement import (
    RequiredSigner,
    encode_requirement,
    make_requirement,
    signing_hash,
    workload_address,
)
from contracts_std.spec import load_spec, spec_bytes
from tests.kit.chainkit import USERS, ContractChain

WORKLOAD = workload_address()
ALICE, BOB, CAROL, DAVE, ERIN, MALLORY = (
    USERS[n] for n in ("alice", "bob", "carol", "dave", "erin", "mallory")
)
SPEC = spec_bytes(
    load_spec(
        {
            "name": "web",
            "workloads": [
                {"type": "vm", "name": "web1", "image": "ubuntu", "cpu": 1, "memory_mb": 512}
            ],
            "budget": 1000,
        }
    )
)

SPEC2 = spec_bytes(load_spec({**decode(SPEC), "budget": 2000}))


def requirement(signers: list[tuple[KeyPair, int, bool]], threshold: int) -> bytes:
    return encode_requirement(
        make_requirement([RequiredSigner(k.public_key, w, r) for k, w, r in signers], threshold)
    )


def two_of_three() -> bytes:
    return requirement([(ALICE, 1, False), (BOB, 1, False), (CAROL, 1, False)], 2)


def submit(chain: ContractChain, req: bytes, spec: bytes = SPEC, expiry: int = 1000) -> int:
    wid = chain.ok(ALICE, WORKLOAD, "submit", spec, req, chain.head.height + expiry)
    assert isinstance(wid, int)
    return wid


def approve(
    chain: ContractChain,
    signer: KeyPair,
    wid: int,
    version: int = 1,
    spec: bytes = SPEC,
    req: bytes | None = None,
    sender: KeyPair | None = None,
) -> tuple[str, str]:
    """Sign the workload's hash with `signer` (sent by `sender`); (receipt status, result)."""
    req = chain.query(WORKLOAD, "requirement_of", wid) if req is None else req
    message = signing_hash(WORKLOAD, wid, version, spec, req)
    receipt = chain.call(
        sender or signer, WORKLOAD, "approve", wid, signer.public_key, signer.sign(message)
    )
    return receipt.status, str(receipt.return_value if receipt.status == "ok" else receipt.message)


def test_two_of_three_is_authorized_by_the_second_valid_signature(chain: ContractChain) -> None:
    wid = submit(chain, two_of_three())
    assert chain.query(WORKLOAD, "status", wid) == "pending"
    assert approve(chain, ALICE, wid) == ("ok", "pending")  # one is not enough
    assert chain.query(WORKLOAD, "signing_hash", wid) == signing_hash(
        WORKLOAD, wid, 1, SPEC, two_of_three()
    )
    # a non-signer, a signature over another hash, a repeated signer: all refused
    status, message = approve(chain, MALLORY, wid)
    assert (status, message) == ("revert", "key is not a signer of this workload")
    status, message = approve(chain, BOB, wid, spec=SPEC + b"x")
    assert status == "revert" and "does not verify" in message
    status, message = approve(chain, ALICE, wid)
    assert (status, message) == ("revert", "key has already signed this version")
    assert chain.query(WORKLOAD, "status", wid) == "pending"
    # anyone may relay a signature: the signer's key is what counts, not the sender
    assert approve(chain, BOB, wid, sender=DAVE) == ("ok", "authorized")
    assert chain.query(WORKLOAD, "status", wid) == "authorized"
    assert chain.query(WORKLOAD, "signed_weight", wid) == 2


def test_weighted_requirement_with_a_required_signer(chain: ContractChain) -> None:
    req = requirement([(ALICE, 2, True), (BOB, 1, False), (CAROL, 1, False)], 3)
    wid = submit(chain, req)
    assert approve(chain, BOB, wid) == ("ok", "pending")
    assert approve(chain, CAROL, wid) == ("ok", "pending")  # weight 2 >= ... but alice required
    assert chain.query(WORKLOAD, "missing_required", wid) == 1
    assert approve(chain, ALICE, wid) == ("ok", "authorized")


def test_optional_signers_may_stay_silent(chain: ContractChain) -> None:
    req = requirement([(ALICE, 2, True), (BOB, 1, False), (CAROL, 1, False)], 3)
    wid = submit(chain, req)
    assert approve(chain, ALICE, wid) == ("ok", "pending")
    assert approve(chain, BOB, wid) == ("ok", "authorized")  # carol never signs


def test_a_bad_requirement_is_refused_by_the_contract(chain: ContractChain) -> None:
    good = two_of_three()
    too_high = (10).to_bytes(4, "big") + good[4:]
    receipt = chain.call(ALICE, WORKLOAD, "submit", SPEC, too_high, 100)
    assert receipt.status == "revert"
    assert receipt.message == "threshold is above the total weight of the signers"
    unsorted = good[:4] + good[4 + 37 : 4 + 74] + good[4 : 4 + 37] + good[4 + 74 :]
    receipt = chain.call(ALICE, WORKLOAD, "submit", SPEC, unsorted, 100)
    assert receipt.message == "signers must be sorted by public key, without repeats"
    assert chain.query(WORKLOAD, "last_id") == 0  # nothing was recorded


def test_update_needs_both_the_old_and_the_new_requirement(chain: ContractChain) -> None:
    old = two_of_three()
    wid = submit(chain, old)
    approve(chain, ALICE, wid)
    approve(chain, BOB, wid)
    new = requirement([(DAVE, 1, False), (ERIN, 1, False)], 2)
    spec2 = SPEC2
    wrong = chain.call(ALICE, WORKLOAD, "update", wid, 3, spec2, new)
    assert (wrong.status, wrong.message) == ("revert", "an update must take version + 1")
    stranger = chain.call(BOB, WORKLOAD, "update", wid, 2, spec2, new)
    assert stranger.message == "only the owner can update a workload"
    chain.ok(ALICE, WORKLOAD, "update", wid, 2, spec2, new)
    assert chain.query(WORKLOAD, "signing_hash", wid) == signing_hash(WORKLOAD, wid, 2, spec2, new)
    # the new signers alone do not apply it: the old requirement is not met
    assert approve(chain, DAVE, wid, 2, spec2, new)[0] == "ok"
    assert approve(chain, ERIN, wid, 2, spec2, new)[0] == "ok"
    assert chain.query(WORKLOAD, "version_of", wid) == 1
    # a signature over the old version's hash does not count for the update
    status, message = approve(chain, CAROL, wid, 1, SPEC, old)
    assert status == "revert" and "update's signing hash" in message
    assert approve(chain, CAROL, wid, 2, spec2, new)[0] == "ok"
    assert chain.query(WORKLOAD, "version_of", wid) == 1  # one old signer of two
    assert approve(chain, ALICE, wid, 2, spec2, new) == ("ok", "authorized")
    assert chain.query(WORKLOAD, "version_of", wid) == 2
    assert chain.query(WORKLOAD, "spec_of", wid) == spec2
    assert chain.query(WORKLOAD, "requirement_of", wid) == new


def test_a_pending_spec_expires(chain: ContractChain) -> None:
    wid = submit(chain, two_of_three(), expiry=2)
    approve(chain, ALICE, wid)
    chain.advance(2)
    assert approve(chain, BOB, wid) == ("ok", "expired")
    assert chain.query(WORKLOAD, "status", wid) == "expired"
    status, message = approve(chain, CAROL, wid)
    assert (status, message) == ("revert", "workload is not waiting for signatures")
    assert chain.query(WORKLOAD, "status", wid) == "expired"  # never authorized


def test_authorization_asks_the_chain_to_deploy_and_cancel_ends_it(chain: ContractChain) -> None:
    wid = submit(chain, two_of_three())
    ref = DeploymentRef(WORKLOAD, wid)
    assert read_deployment(chain.store, ref) is None  # nothing to place while pending
    approve(chain, ALICE, wid)
    approve(chain, CAROL, wid)
    asked = read_deployment(chain.store, ref)
    assert asked is not None and (asked.version, asked.state) == (1, PLACING)
    assert asked.spec_hash == hash32(SPEC) and read_deployment_spec(chain.store, ref) == SPEC
    chain.produce()  # the placement runs at the start of the next block: no node is registered
    waiting = read_deployment(chain.store, ref)
    assert waiting is not None and waiting.state == PLACING
    assert waiting.message == "web1 replica 0: no eligible node (no candidates)"
    refused = chain.call(BOB, WORKLOAD, "cancel", wid)
    assert refused.message == "only the owner can cancel a workload"
    chain.ok(ALICE, WORKLOAD, "cancel", wid)
    assert chain.query(WORKLOAD, "status", wid) == "cancelled"
    ended = read_deployment(chain.store, ref)
    assert ended is not None and (ended.state, ended.message) == (ENDED, "cancelled by the owner")
    late = chain.call(ALICE, WORKLOAD, "cancel", wid)
    assert late.message == "workload has already ended"


def test_a_spec_the_chain_cannot_place_is_refused_on_submit(chain: ContractChain) -> None:
    for bad, why in [
        (b"\x01", "spec: spec must be a map"),
        (SPEC + b" ", "spec: not in canonical form (re-encoding differs)"),
    ]:
        receipt = chain.call(ALICE, WORKLOAD, "submit", bad, two_of_three(), 100)
        assert (receipt.status, receipt.message) == ("revert", why)
    assert chain.query(WORKLOAD, "last_id") == 0


def test_every_step_is_an_event_in_order(chain: ContractChain) -> None:
    wid = submit(chain, two_of_three())
    approve(chain, ALICE, wid)
    approve(chain, BOB, wid)
    topics = [e.topic for r in chain.results for receipt in r.receipts for e in receipt.events]
    assert topics == ["request", "signature", "signature", "authorized", "state"]
    refused = chain.call(MALLORY, WORKLOAD, "approve", wid, MALLORY.public_key, b"\x00" * 64)
    assert refused.status == "revert" and refused.events == ()


def test_the_deposit_becomes_the_escrow_and_comes_back_if_nothing_ran(
    chain: ContractChain,
) -> None:
    alice = key_address(ALICE.public_key)
    ref = DeploymentRef(WORKLOAD, 1)
    wid = chain.ok(ALICE, WORKLOAD, "submit", SPEC, two_of_three(), 1000, value=5_000)
    assert balance(chain, WORKLOAD) == 5_000
    approve(chain, ALICE, wid)
    approve(chain, BOB, wid)
    d = read_deployment(chain.store, ref)
    assert d is not None and d.escrow == 5_000 and d.payer == alice
    assert balance(chain, WORKLOAD) == 0  # the escrow is the chain's, not the contract's
    refused = chain.call(BOB, WORKLOAD, "topup", wid)
    assert refused.message == "send the credits to add with the call"
    chain.ok(BOB, WORKLOAD, "topup", wid, value=1_000)
    assert escrow_of(chain, ref) == 6_000
    before = balance(chain, alice)
    receipt = chain.call(ALICE, WORKLOAD, "cancel", wid)  # nothing ran: it all goes back
    assert receipt.status == "ok" and escrow_of(chain, ref) == 0
    assert balance(chain, alice) == before + 6_000 - receipt.fee
    # A workload cancelled before it was authorized gets its deposit back from the contract.
    pending = chain.ok(ALICE, WORKLOAD, "submit", SPEC, two_of_three(), 1000, value=700)
    before = balance(chain, alice)
    receipt = chain.call(ALICE, WORKLOAD, "cancel", pending)
    assert balance(chain, WORKLOAD) == 0 and balance(chain, alice) == before + 700 - receipt.fee


def balance(chain: ContractChain, address: Address) -> int:
    account = read_account(chain.store, address)
    return 0 if account is None else account.balance


def escrow_of(chain: ContractChain, ref: DeploymentRef) -> int:
    d = read_deployment(chain.store, ref)
    assert d is not None
    return d.escrow
