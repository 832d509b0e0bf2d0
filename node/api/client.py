"""A small synchronous client for the node's HTTP API, for the CLI and the devnet tools.

Every failure is an ApiError carrying the API's own error code and message, so callers can show
the node's explanation instead of an HTTP status line. `checked_account` checks what a node says
about an account against the block it names, so a query need not trust the node's JSON;
`checked_header` and `proof_hashes` read a header and a proof's hashes the same way for the audit
commands and the audit monitor, so what they verify is computed here, never taken from the node.
"""

import http.client
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, fields
from typing import Any, TypeVar

from chain import smt
from chain.address import parse_address
from chain.blocks.header import HEADER_FIELDS, Header
from chain.errors import InvalidProof, RuleViolation
from chain.hashing import hash32
from chain.ledger.policy import policy_to_json
from chain.light.blocks import LightBlock, decode_light_block
from chain.state import Account, account_key, decode_account

DEFAULT_TIMEOUT = 10.0
# Refusals that say "not now" rather than "never": worth asking again a little later.
BUSY_CODES = frozenset({"catching_up", "no_peers", "mempool_full"})
BUSY_RETRY_SECONDS = 10.0
MAX_RESPONSE_BYTES = 64 * 1024 * 1024

T = TypeVar("T")


class ApiError(Exception):
    """An error answered by the node (`status` is its HTTP status) or met on the way to it."""

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


class NodeUnreachable(ApiError):
    def __init__(self, url: str, reason: str) -> None:
        super().__init__("node_unreachable", f"cannot reach node at {url}: {reason}")
        self.url = url


class NodeClient:
    def __init__(
        self, url: str, timeout: float = DEFAULT_TIMEOUT, busy_retry: float = BUSY_RETRY_SECONDS
    ) -> None:
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ApiError("bad_url", f"node URL {url!r} must look like http://HOST:PORT")
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.busy_retry = busy_retry

    # The API

    def status(self) -> dict[str, Any]:
        return self.get("/v1/status")

    def account(self, address: str) -> dict[str, Any]:
        return self.get(f"/v1/accounts/{_segment(address)}")

    def block(self, ref: str | int) -> dict[str, Any]:
        return self.get(f"/v1/blocks/{_segment(str(ref))}")

    def tx(self, tx_id: str) -> dict[str, Any]:
        return self.get(f"/v1/txs/{_segment(tx_id)}")

    def submit_tx(self, encoded: bytes) -> dict[str, Any]:
        """Submit one signed transaction; a node that is busy for now (catching up, no peers
        yet, mempool full) is asked again for up to `busy_retry` seconds. Sending the same
        transaction twice is harmless: it has one id."""
        deadline = time.monotonic() + self.busy_retry
        delay = 0.2
        while True:
            try:
                return self.post("/v1/txs", {"tx": encoded.hex()})
            except ApiError as exc:
                if exc.code not in BUSY_CODES or time.monotonic() + delay > deadline:
                    raise
            time.sleep(delay)
            delay = min(2 * delay, 2.0)

    def light_block(self, ref: int | str) -> LightBlock:
        """A height's light block, decoded: nothing in it is trusted until it is verified."""
        view = self.get(f"/v1/light/{_segment(str(ref))}")
        return self._light_block(view.get("light_block"), f"height {ref}")

    def _light_block(self, raw: Any, what: str) -> LightBlock:
        try:
            return decode_light_block(bytes.fromhex(str(raw)))
        except (ValueError, RuleViolation) as exc:
            message = exc.message if isinstance(exc, RuleViolation) else "not hex"
            raise ApiError(
                "bad_response", f"{self.url} served a malformed light block for {what}: {message}"
            ) from None

    def light_path(self, start: int, target: int) -> list[LightBlock]:
        """The light blocks that take a client trusting `start` to `target` (unverified),
        asked for again from the last one while the node answers a part of the way."""
        path: list[LightBlock] = []
        while True:
            view = self.get(f"/v1/light/path?from={int(start)}&to={int(target)}")
            raws = view.get("light_blocks")
            if not isinstance(raws, list):
                raise ApiError(
                    "bad_response", f"{self.url} served no light blocks for {start}..{target}"
                )
            blocks = [self._light_block(raw, f"the path to {target}") for raw in raws]
            path += blocks
            if view.get("complete", True) or not blocks or blocks[-1].height <= start:
                return path
            start = blocks[-1].height

    def snapshots(self) -> list[dict[str, Any]]:
        """The snapshots the node serves, newest first (what they claim: nothing checked)."""
        found = self.get("/v1/snapshots").get("snapshots")
        return [s for s in found if isinstance(s, dict)] if isinstance(found, list) else []

    def snapshot_manifest(self, height: int) -> bytes:
        return self.get_bytes(f"/v1/snapshots/{int(height)}/manifest")

    def snapshot_chunk(self, height: int, index: int) -> bytes:
        return self.get_bytes(f"/v1/snapshots/{int(height)}/chunks/{int(index)}")

    def snapshot_block(self, height: int) -> bytes:
        return self.get_bytes(f"/v1/snapshots/{int(height)}/block")

    def snapshot_headers(self, height: int) -> bytes:
        return self.get_bytes(f"/v1/snapshots/{int(height)}/headers")

    def audit(self) -> dict[str, Any]:
        return self.get("/v1/audit")

    def audit_entries(self, start: int, limit: int, contract: str | None = None) -> dict[str, Any]:
        if contract is not None:
            path = f"/v1/audit/contracts/{_segment(contract)}/entries"
        else:
            path = "/v1/audit/entries"
        return self.get(f"{path}?start={start}&limit={limit}")

    def audit_proof(self, index: int, size: int | None = None) -> dict[str, Any]:
        query = "" if size is None else f"?size={size}"
        return self.get(f"/v1/audit/entries/{index}/proof{query}")

    def audit_consistency(self, first: int, second: int | None = None) -> dict[str, Any]:
        query = f"?first={first}" + ("" if second is None else f"&second={second}")
        return self.get(f"/v1/audit/consistency{query}")

    def contract(self, address: str) -> dict[str, Any]:
        return self.get(f"/v1/contracts/{_segment(address)}")

    def query(
        self, address: str, function: str, args: list[Any], caller: str | None = None
    ) -> dict[str, Any]:
        """Run a contract function read-only on the head state; `args` as the API takes them."""
        body = {"function": function, "args": args, "caller": caller}
        return self.post(f"/v1/contracts/{_segment(address)}/query", body)

    def farming(self) -> dict[str, Any]:
        """The head, the running epoch, recent block hashes and the farming parameters."""
        return self.get("/v1/farming")

    def farm(self, farm: int) -> dict[str, Any]:
        return self.get(f"/v1/farms/{int(farm)}")

    def node(self, node: int) -> dict[str, Any]:
        """A farming node with its activity this epoch and its projected reward."""
        return self.get(f"/v1/nodes/{int(node)}")

    def node_by_key(self, public_key_hex: str) -> dict[str, Any]:
        return self.get(f"/v1/nodes/by-key/{_segment(public_key_hex)}")

    def farm_rewards(self, farm: int, epochs: int = 10) -> dict[str, Any]:
        """The farm's reward lines of its last `epochs` settled epochs, newest first."""
        return self.get(f"/v1/farms/{int(farm)}/rewards?epochs={int(epochs)}")

    def deployment(self, contract: str, wid: int) -> dict[str, Any]:
        """A workload's deployment: its state, replicas (node, country, state) and URLs."""
        return self.get(f"/v1/deployments/{_segment(contract)}/{int(wid)}")

    def node_replicas(self, node: int) -> dict[str, Any]:
        """What the chain placed on a node: each replica with the spec it runs."""
        return self.get(f"/v1/nodes/{int(node)}/replicas")

    def node_routes(self, node: int) -> dict[str, Any]:
        """What a gateway node serves: each host name with its current backends."""
        return self.get(f"/v1/nodes/{int(node)}/routes")

    # Transport

    def get(self, path: str) -> dict[str, Any]:
        return self._request("GET", path, None)

    def post(self, path: str, body: Any) -> dict[str, Any]:
        return self._request("POST", path, json.dumps(body).encode())

    def get_bytes(self, path: str) -> bytes:
        """An answer in canonical bytes (application/cbor), as the snapshot routes give."""
        return self._fetch("GET", path, None, "application/cbor")[1]

    def _request(self, method: str, path: str, data: bytes | None) -> dict[str, Any]:
        status, raw = self._fetch(method, path, data, "application/json")
        body = _json(raw)
        if not isinstance(body, dict):
            raise ApiError(
                "bad_response",
                f"{method} {self.url + path} answered {status} without a JSON object",
                status,
            )
        return body

    def _fetch(self, method: str, path: str, data: bytes | None, accept: str) -> tuple[int, bytes]:
        url = self.url + path
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Accept", accept)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return int(response.status), response.read(MAX_RESPONSE_BYTES)
        except urllib.error.HTTPError as exc:
            raise _error_from_response(method, url, exc.code, exc.read(64 * 1024)) from None
        except urllib.error.URLError as exc:
            raise NodeUnreachable(self.url, _reason(exc.reason)) from None
        except TimeoutError:
            raise NodeUnreachable(self.url, f"no answer within {self.timeout:g} s") from None
        except (OSError, http.client.HTTPException) as exc:
            raise NodeUnreachable(self.url, _reason(exc)) from None


def _segment(text: str) -> str:
    """Quote a path segment so user input can never change the path."""
    return urllib.parse.quote(text.strip(), safe="")


def _reason(reason: object) -> str:
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return str(reason) or type(reason).__name__


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


def _error_from_response(method: str, url: str, status: int, raw: bytes) -> ApiError:
    """The API's {"error": {"code", "message"}}, or a readable stand-in for other bodies."""
    body = _json(raw)
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return ApiError(str(error.get("code") or "error"), error["message"], status)
    snippet = raw[:200].decode("utf-8", "replace").strip()
    return ApiError(
        "http_error", f"{method} {url} failed with HTTP {status}: {snippet or 'no body'}", status
    )


# Checking what the node says


@dataclass(frozen=True)
class VerifiedAccount:
    """An account record proven under the state root of block `height`."""

    account: Account
    exists: bool
    height: int
    block_hash: bytes
    state_root: bytes


_HEADER_TYPES: dict[str, type] = {
    f.name: f.type for f in fields(Header) if isinstance(f.type, type)
}


def header_from_json(view: Any) -> Header:
    """Rebuild a header from its API view, so its hash is computed here rather than trusted."""
    if not isinstance(view, dict):
        raise InvalidProof("block header is not a JSON object")
    values: dict[str, Any] = {}
    for name in HEADER_FIELDS:
        value: Any = view.get(name)
        wanted = _HEADER_TYPES[name]
        try:
            if wanted is bytes:
                value = bytes.fromhex(value)
            if not isinstance(value, wanted) or isinstance(value, bool):
                raise TypeError
        except (TypeError, ValueError):
            raise InvalidProof(f"block header field {name!r} is missing or malformed") from None
        values[name] = value
    return Header(**values)


def checked_header(view: Any, what: str = "header") -> Header:
    """A header rebuilt from its API view (`header_from_json`) whose `hash` field, if it has
    one, must be the hash recomputed here: a view naming one block and holding another's
    fields is refused rather than trusted for either."""
    header = header_from_json(view)
    claimed = view.get("hash") if isinstance(view, dict) else None
    if claimed is not None and claimed != header.hash.hex():
        raise InvalidProof(f"{what}'s hash field does not match its contents")
    return header


def proof_hashes(answer: dict[str, Any]) -> list[bytes]:
    """The `proof` list of a proof answer or bundle (hex strings) as bytes; InvalidProof if it
    is missing or not hex. Their length and what they prove is chain.merkle's to check."""
    proof = answer.get("proof")
    if not isinstance(proof, list):
        raise InvalidProof("the answer has no proof list")
    try:
        return [bytes.fromhex(p) for p in proof]
    except (TypeError, ValueError):
        raise InvalidProof("a proof hash is not hex") from None


def checked_account(address: str, view: dict[str, Any], block: dict[str, Any]) -> VerifiedAccount:
    """Check GET /v1/accounts/ADDRESS against GET /v1/blocks/{its height}; raise InvalidProof.

    The header hash is recomputed from the header fields; the state key is derived from the
    address; the proof must lead from hash32(value) to the header's state root; and the balance,
    nonce and existence the node reported must be those of the proven record.
    """
    try:
        key = account_key(parse_address(address))
        height = int(view["height"])
        block_hash = bytes.fromhex(view["block_hash"])
        state_root = bytes.fromhex(view["state_root"])
        state_key = bytes.fromhex(view["state_key"])
        value = None if view["value"] is None else bytes.fromhex(view["value"])
        proof = smt.Proof.from_dict(view["proof"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidProof(f"account response is missing or has a malformed field: {exc}") from None
    if state_key != key:
        raise InvalidProof(
            f"node proved state key {state_key.hex()}, but {address} is stored under {key.hex()}"
        )
    header = header_from_json(block.get("header"))
    if header.hash != block_hash:
        raise InvalidProof(
            f"block {height} hashes to {header.hash.hex()}, not the reported {block_hash.hex()}"
        )
    if block["header"].get("hash") != header.hash.hex():
        raise InvalidProof(f"block {height}: the node's header hash does not match its fields")
    if header.height != height:
        raise InvalidProof(f"asked for block {height}, the node answered block {header.height}")
    if header.state_root != state_root:
        raise InvalidProof(
            f"block {height} has state root {header.state_root.hex()}, "
            f"not the reported {state_root.hex()}"
        )
    smt.check_proof(state_root, key, None if value is None else hash32(value), proof)
    try:
        account = Account() if value is None else decode_account(value)
    except RuleViolation as exc:
        raise InvalidProof(f"the proven account record does not decode: {exc.message}") from None
    policy = None if account.policy is None else policy_to_json(account.policy)
    proven = {"exists": value is not None, "balance": account.balance, "nonce": account.nonce}
    for name, proven_value in [*proven.items(), ("policy", policy)]:
        if view.get(name) != proven_value:
            raise InvalidProof(
                f"node reported {name} {view.get(name)!r}, but the proven record says "
                f"{proven_value!r}"
            )
    return VerifiedAccount(account, value is not None, height, block_hash, state_root)


def answer_field(view: dict[str, Any], name: str, kind: type[T]) -> T:
    """A field the CLI relies on; a node answering without it gets a clear error."""
    value = view.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ApiError("bad_response", f"the node's answer has no valid {name!r}: {value!r}")
    return value
