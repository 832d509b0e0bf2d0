"""Multisig workload specs: a spec takes effect only when its signature requirement is met.

A requirement is bytes: a 4-byte threshold, then one 37-byte entry per signer (32-byte ed25519
public key, 4-byte weight, 1-byte required flag), sorted by key. A version is authorized when
every required signer has signed and the weights of the valid signatures reach the threshold;
optional signers may stay silent. Signers sign signing_hash(wid, version, spec, requirement),
so a signature cannot be moved to another workload, version, spec or requirement.

An update takes version + 1 and must be signed so that both the current requirement and the
new one are met. Every step emits an event, and so lands in the audit log.

States: pending -> authorized; pending -> expired; any live state -> cancelled (by the owner).
Once a version is authorized the contract asks the chain to deploy it (`deploy`): the chain,
not the owner, picks the nodes, and the nodes' agents report there (chain/deployment/). A spec
the chain could not place is refused on submit and on update (`spec_error`).
"""

from vm.lang import (
    Map,
    bytes_of,
    caller,
    deploy,
    ed25519_verify,
    emit,
    fund,
    hash32,
    height,
    int_from_bytes,
    int_to_bytes,
    public,
    revert,
    self_address,
    spec_error,
    transfer,
    undeploy,
    value,
)

DOMAIN = b"gridchain/workload/v1"
ENTRY = 37
MAX_SIGNERS = 16
MAX_SPEC = 8192

counter = Map(bytes, int)  # b"last" -> the last workload id handed out
owner = Map(int, bytes)  # id -> raw address of the submitter
state = Map(int, str)
version = Map(int, int)
spec = Map(int, bytes)  # canonical spec bytes (validated at the edge)
requirement = Map(int, bytes)
expires = Map(int, int)  # a pending spec expires after this height
weight = Map(int, int)  # weight of valid signatures on the pending version
missing = Map(int, int)  # required signers of the pending version still to sign
signed = Map(bytes, bool)  # id | version | public key -> signed
next_spec = Map(int, bytes)  # a proposed update (version + 1)
next_requirement = Map(int, bytes)
old_weight = Map(int, int)  # the update's signatures counted under the current requirement
old_missing = Map(int, int)
deposit = Map(int, int)  # credits sent with submit, held until the chain deploys (or refunded)


def check_spec(s: bytes) -> None:
    assert len(s) > 0, "spec is empty"
    assert len(s) <= MAX_SPEC, "spec is larger than 8192 bytes"
    reason = spec_error(s)
    if reason != "":
        revert(reason)


def check_requirement(req: bytes) -> None:
    assert len(req) >= 4 + ENTRY, "requirement needs a threshold and at least one signer"
    assert (len(req) - 4) % ENTRY == 0, "requirement is a 4-byte threshold and 37-byte signers"
    n = (len(req) - 4) // ENTRY
    assert n <= MAX_SIGNERS, "requirement has more than 16 signers"
    threshold = int_from_bytes(req[0:4])
    assert threshold >= 1, "threshold must be at least 1"
    total = 0
    previous = b""
    for i in range(n):
        at = 4 + i * ENTRY
        key = req[at : at + 32]
        assert key > previous, "signers must be sorted by public key, without repeats"
        w = int_from_bytes(req[at + 32 : at + 36])
        assert w >= 1, "a signer's weight must be at least 1"
        assert req[at + 36] <= 1, "a signer's required flag must be 0 or 1"
        total += w
        previous = key
    assert total >= threshold, "threshold is above the total weight of the signers"


def threshold_of(req: bytes) -> int:
    return int_from_bytes(req[0:4])


def entry_of(req: bytes, key: bytes) -> int:
    """Offset of key's entry in req, or 0 if key is not a signer."""
    n = (len(req) - 4) // ENTRY
    for i in range(n):
        at = 4 + i * ENTRY
        if req[at : at + 32] == key:
            return at
    return 0


def weight_of(req: bytes, at: int) -> int:
    if at == 0:
        return 0
    return int_from_bytes(req[at + 32 : at + 36])


def required_at(req: bytes, at: int) -> int:
    if at == 0:
        return 0
    return req[at + 36]


def required_count(req: bytes) -> int:
    n = (len(req) - 4) // ENTRY
    count = 0
    for i in range(n):
        count += req[4 + i * ENTRY + 36]
    return count


def met(req: bytes, got: int, still_missing: int) -> bool:
    return still_missing == 0 and got >= threshold_of(req)


def signing_hash_of(wid: int, v: int, s: bytes, req: bytes) -> bytes:
    return hash32(
        DOMAIN
        + self_address()
        + int_to_bytes(wid, 8)
        + int_to_bytes(v, 8)
        + hash32(s)
        + hash32(req)
    )


def head(wid: int, v: int) -> bytes:
    return int_to_bytes(wid, 8) + int_to_bytes(v, 8)


def set_state(wid: int, new: str) -> None:
    state[wid] = new
    emit("state", head(wid, version[wid]) + bytes_of(new))


def exists(wid: int) -> None:
    assert state[wid] != "", "no such workload"


def expire_if_due(wid: int) -> bool:
    if state[wid] == "pending" and height() > expires[wid]:
        set_state(wid, "expired")
        refund_deposit(wid)
        return True
    return False


def refund_deposit(wid: int) -> None:
    """A workload that never ran gets its deposit back."""
    amount = deposit[wid]
    if amount > 0:
        deposit[wid] = 0
        transfer(owner[wid], amount)
        emit("refund", head(wid, version[wid]) + int_to_bytes(amount, 16))


def start(wid: int, v: int) -> None:
    """Have the chain deploy version v (it places it; the owner cannot); the deposit becomes
    the deployment's escrow, which pays the nodes for what runs."""
    deploy(wid, v, spec[wid], owner[wid])
    amount = deposit[wid]
    if amount > 0:
        deposit[wid] = 0
        fund(wid, amount)


def live(st: str) -> bool:
    return st != "cancelled" and st != "expired"


@public
def submit(s: bytes, req: bytes, expiry: int) -> int:
    """Record a spec and its requirement; returns the workload id. Nothing runs until approved.
    The credits sent with the call are the deposit: the escrow once the chain deploys it."""
    check_spec(s)
    check_requirement(req)
    assert expiry > height(), "expiry must be a height in the future"
    wid = counter[b"last"] + 1
    counter[b"last"] = wid
    owner[wid] = caller()
    spec[wid] = s
    requirement[wid] = req
    version[wid] = 1
    expires[wid] = expiry
    weight[wid] = 0
    missing[wid] = required_count(req)
    state[wid] = "pending"
    deposit[wid] = value()
    emit("request", head(wid, 1) + hash32(s) + hash32(req) + caller())
    return wid


@public
def approve(wid: int, key: bytes, sig: bytes) -> str:
    """Add key's signature over the pending version (or the pending update); returns the state."""
    exists(wid)
    if expire_if_due(wid):
        return "expired"
    if len(next_spec[wid]) > 0:
        return approve_update(wid, key, sig)
    assert state[wid] == "pending", "workload is not waiting for signatures"
    v = version[wid]
    req = requirement[wid]
    at = entry_of(req, key)
    assert at > 0, "key is not a signer of this workload"
    mark = head(wid, v) + key
    assert mark not in signed, "key has already signed this version"
    assert ed25519_verify(key, signing_hash_of(wid, v, spec[wid], req), sig), (
        "signature does not verify over this workload's signing hash"
    )
    signed[mark] = True
    weight[wid] = weight[wid] + weight_of(req, at)
    missing[wid] = missing[wid] - required_at(req, at)
    emit("signature", head(wid, v) + key)
    if met(req, weight[wid], missing[wid]):
        emit("authorized", head(wid, v) + hash32(spec[wid]))
        set_state(wid, "authorized")
        start(wid, v)
    return state[wid]


def approve_update(wid: int, key: bytes, sig: bytes) -> str:
    v = version[wid] + 1
    old_req = requirement[wid]
    new_req = next_requirement[wid]
    old_at = entry_of(old_req, key)
    new_at = entry_of(new_req, key)
    assert old_at > 0 or new_at > 0, "key is not a signer of this workload or of its update"
    mark = head(wid, v) + key
    assert mark not in signed, "key has already signed this update"
    assert ed25519_verify(key, signing_hash_of(wid, v, next_spec[wid], new_req), sig), (
        "signature does not verify over the update's signing hash"
    )
    signed[mark] = True
    old_weight[wid] = old_weight[wid] + weight_of(old_req, old_at)
    old_missing[wid] = old_missing[wid] - required_at(old_req, old_at)
    weight[wid] = weight[wid] + weight_of(new_req, new_at)
    missing[wid] = missing[wid] - required_at(new_req, new_at)
    emit("signature", head(wid, v) + key)
    if met(old_req, old_weight[wid], old_missing[wid]) and met(new_req, weight[wid], missing[wid]):
        version[wid] = v
        spec[wid] = next_spec[wid]
        requirement[wid] = new_req
        del next_spec[wid]
        del next_requirement[wid]
        emit("authorized", head(wid, v) + hash32(spec[wid]))
        set_state(wid, "authorized")
        start(wid, v)
    return state[wid]


@public
def update(wid: int, new_version: int, s: bytes, req: bytes) -> None:
    """Propose version + 1; it replaces the current one once both requirements are met."""
    exists(wid)
    assert caller() == owner[wid], "only the owner can update a workload"
    st = state[wid]
    assert live(st) and st != "pending", "only an authorized workload can be updated"
    assert new_version == version[wid] + 1, "an update must take version + 1"
    check_spec(s)
    check_requirement(req)
    next_spec[wid] = s
    next_requirement[wid] = req
    old_weight[wid] = 0
    old_missing[wid] = required_count(requirement[wid])
    weight[wid] = 0
    missing[wid] = required_count(req)
    emit("update", head(wid, new_version) + hash32(s) + hash32(req))


@public
def cancel(wid: int) -> None:
    exists(wid)
    assert caller() == owner[wid], "only the owner can cancel a workload"
    assert live(state[wid]), "workload has already ended"
    del next_spec[wid]
    del next_requirement[wid]
    was = state[wid]
    set_state(wid, "cancelled")
    if was == "pending":
        refund_deposit(wid)
    else:
        undeploy(wid, "cancelled by the owner")


@public
def topup(wid: int) -> None:
    """Add the credits sent with the call to a running workload's escrow (anyone may pay)."""
    exists(wid)
    assert state[wid] == "authorized", "only an authorized workload has an escrow"
    assert value() > 0, "send the credits to add with the call"
    fund(wid, value())
    emit("topup", head(wid, version[wid]) + int_to_bytes(value(), 16))


@public
def expire(wid: int) -> str:
    """Anyone may mark a pending spec past its expiry height as expired."""
    exists(wid)
    expire_if_due(wid)
    return state[wid]


@public
def status(wid: int) -> str:
    return state[wid]


@public
def version_of(wid: int) -> int:
    return version[wid]


@public
def signing_hash(wid: int) -> bytes:
    """What signers sign now: the pending update's hash if there is one, else the version's."""
    exists(wid)
    if len(next_spec[wid]) > 0:
        return signing_hash_of(wid, version[wid] + 1, next_spec[wid], next_requirement[wid])
    return signing_hash_of(wid, version[wid], spec[wid], requirement[wid])


@public
def spec_of(wid: int) -> bytes:
    return spec[wid]


@public
def requirement_of(wid: int) -> bytes:
    return requirement[wid]


@public
def pending_spec_of(wid: int) -> bytes:
    """The proposed update's spec (empty if none is pending)."""
    return next_spec[wid]


@public
def pending_requirement_of(wid: int) -> bytes:
    return next_requirement[wid]


@public
def signed_weight(wid: int) -> int:
    return weight[wid]


@public
def missing_required(wid: int) -> int:
    return missing[wid]


@public
def has_signed(wid: int, v: int, key: bytes) -> bool:
    return head(wid, v) + key in signed


@public
def owner_of(wid: int) -> bytes:
    return owner[wid]


@public
def last_id() -> int:
    return counter[b"last"]
