"""Authenticated, encrypted links between nodes: a handshake carried by two small HTTP
requests, then a websocket that only an authenticated peer ever gets.

Handshake (the dialer is the key-exchange client; the manager carries the messages):

1. POST /p2p/hello, the client's hello in the clear: {"version", "network", "ephemeral"} in
   canonical CBOR (at most MAX_HANDSHAKE_MESSAGE bytes: the peer port reads no bigger body),
   where "ephemeral" is a fresh X25519 public key. A wrong network or version ends it here.
2. Directional session keys from libsodium's key exchange (crypto_kx) over the two ephemeral
   keys; from here on every message is a sealed frame (below). The server answers with its own
   hello, its auth {"key", "signature"} sealed as frame 0 of its direction, and a token naming
   the handshake (kept HANDSHAKE_TIMEOUT seconds).
3. The client checks the server's auth, then asks for the websocket (GET /p2p) with the token
   and its own auth (frame 0 of its direction) in two headers; the server checks it before it
   upgrades the connection, so the 101 answer is the ack, and a refusal is a plain 403.

Each auth signs the transcript (network id and both ephemeral keys, client's first) plus the
signer's role, so a signature is worthless in any other session (fresh ephemeral keys) and cannot
be reflected back (wrong role). The server proves itself first so a dialer checks the key it
expected before it reveals its own. No websocket exists before both ends are authenticated:
what an unauthenticated peer can make the node hold is a hello's bytes and one small session
per pending handshake (bounded per address and in all by the manager), never a 32 MiB frame.

Frames: `nacl.secret.SecretBox` under the direction's key, sent as nonce || ciphertext, where
the nonce is a 24-byte little-endian frame counter from 0 (the auth frames included). The
receiver requires exactly the next counter, so a replayed, reordered or dropped frame ends the
link, as does any frame that fails to authenticate.
"""

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import nacl.bindings
import nacl.exceptions
import nacl.public
import nacl.secret
from aiohttp import WSCloseCode, WSMsgType
from aiohttp.http import WebSocketError

from chain.encoding import decode, encode, expect_bytes, expect_int, expect_map
from chain.errors import EncodingError
from chain.hashing import tagged_hash
from chain.keys import PUBLIC_KEY_SIZE, SIGNATURE_SIZE, KeyPair, verify_signature

PROTOCOL_VERSION = 2  # 1: the handshake ran over the websocket
NONCE_SIZE = nacl.secret.SecretBox.NONCE_SIZE  # 24
FRAME_OVERHEAD = NONCE_SIZE + nacl.secret.SecretBox.MACBYTES  # 40 bytes on top of a payload
DEFAULT_MAX_PAYLOAD = 32 * 1024 * 1024
HANDSHAKE_TIMEOUT = 5.0
CLOSE_TIMEOUT = 2.0
MAX_NETWORK_ID = 64
MAX_HANDSHAKE_MESSAGE = 1024
TOKEN_SIZE = 16
OFFLOAD_BYTES = 1 << 20  # bigger frames are sealed and opened in a thread: the loop keeps going
AUTH_PREFIX = b"gc/p2p-auth\x00"  # the validator key signs votes too: never the same bytes
CLIENT, SERVER = "client", "server"


class LinkError(Exception):
    """A handshake or frame was refused; `reason` is a short stable name (for counters)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class LinkClosed(Exception):
    """The websocket closed (by either end); `str()` says why when the peer told us."""


class WebSocket(Protocol):
    """What a link needs of a websocket: aiohttp's client and server websockets both fit."""

    @property
    def closed(self) -> bool: ...

    async def send_bytes(self, data: bytes, compress: int | None = None) -> None: ...

    async def receive(self, timeout: float | None = None) -> tuple[WSMsgType, Any, str | None]: ...

    async def close(self, *, code: int = ..., message: bytes = ...) -> bool: ...


class _Cipher:
    """One direction of a link: a SecretBox and its frame counter."""

    def __init__(self, key: bytes) -> None:
        self._box = nacl.secret.SecretBox(key)
        self.counter = 0

    def seal(self, plaintext: bytes) -> bytes:
        nonce = self.counter.to_bytes(NONCE_SIZE, "little")
        self.counter += 1
        return bytes(self._box.encrypt(plaintext, nonce))

    def open(self, frame: bytes) -> bytes:
        if len(frame) < FRAME_OVERHEAD:
            raise LinkError("bad_frame", f"frame of {len(frame)} bytes is too short")
        got = int.from_bytes(frame[:NONCE_SIZE], "little")
        if got != self.counter:
            raise LinkError(
                "bad_counter",
                f"frame counter {got}, expected {self.counter} (replayed, reordered or dropped)",
            )
        try:
            plaintext = bytes(self._box.decrypt(frame))
        except nacl.exceptions.CryptoError:
            raise LinkError("bad_frame", "frame does not authenticate (tampered?)") from None
        self.counter += 1
        return plaintext


async def _receive_frame(ws: WebSocket) -> bytes:
    try:
        kind, data, extra = await ws.receive()
    except ConnectionError as exc:  # aiohttp answering a ping on a closing transport
        raise LinkClosed(f"link closed: {exc}") from None
    if kind is WSMsgType.BINARY:
        return bytes(data)
    if kind in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
        raise LinkClosed(f"peer closed the link: {extra}" if extra else "link closed")
    if kind is WSMsgType.ERROR:
        if isinstance(data, WebSocketError) and data.code == WSCloseCode.MESSAGE_TOO_BIG:
            raise LinkError("oversized", f"websocket message too big: {data}")
        raise LinkError("socket_error", f"websocket error: {data!r}")
    raise LinkError("protocol", f"unexpected websocket {kind.name} message")


async def _close_quietly(ws: WebSocket, reason: str, timeout: float) -> None:
    """Close with `reason` for the peer's log; a peer that does not answer is cut off."""
    with contextlib.suppress(Exception):
        # on timeout aiohttp's close is cancelled, which closes the transport
        await asyncio.wait_for(ws.close(message=reason.encode()[:120]), timeout)


class PeerLink:
    """An authenticated, encrypted message channel to one peer, once the handshake is done.

    One task may `recv` at a time; `send` may be called from several.
    """

    def __init__(
        self,
        ws: WebSocket,
        peer_key: bytes,
        *,
        dialer: bool,
        sender: _Cipher,
        receiver: _Cipher,
        max_payload: int,
        close_timeout: float = CLOSE_TIMEOUT,
    ) -> None:
        self.peer_key = peer_key
        self.dialer = dialer  # True when this end dialed
        self.max_payload = max_payload
        self._ws = ws
        self._sender = sender
        self._receiver = receiver
        self._close_timeout = close_timeout
        self._send_lock = asyncio.Lock()
        self._closing: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"PeerLink({self.peer_key.hex()[:12]}, dialer={self.dialer})"

    @property
    def closed(self) -> bool:
        return self._closing is not None or self._ws.closed

    async def send(self, payload: bytes) -> None:
        """Seal and send one message; LinkClosed if the link is gone."""
        if len(payload) > self.max_payload:
            await self.close("oversized")
            raise LinkError(
                "oversized",
                f"message of {len(payload)} bytes exceeds the limit of {self.max_payload}",
            )
        async with self._send_lock:
            if self.closed:
                raise LinkClosed("link closed")
            if len(payload) > OFFLOAD_BYTES:
                frame = await asyncio.to_thread(self._sender.seal, payload)
            else:
                frame = self._sender.seal(payload)
            try:
                await self._ws.send_bytes(frame)
            except ConnectionError as exc:
                raise LinkClosed(f"link closed while sending: {exc}") from None

    async def recv(self) -> bytes:
        """The next message, in order; LinkClosed at the end, LinkError for a bad frame."""
        if self._ws.closed:
            raise LinkClosed("link closed")
        try:
            frame = await _receive_frame(self._ws)
            if len(frame) > self.max_payload + FRAME_OVERHEAD:
                raise LinkError(
                    "oversized",
                    f"frame of {len(frame)} bytes exceeds the limit of "
                    f"{self.max_payload + FRAME_OVERHEAD}",
                )
            if len(frame) > OFFLOAD_BYTES:
                return await asyncio.to_thread(self._receiver.open, frame)
            return self._receiver.open(frame)
        except LinkError as exc:
            await self.close(exc.reason)
            raise
        except LinkClosed:
            await self.close()
            raise

    async def close(self, reason: str = "") -> None:
        """Close the websocket (idempotent; concurrent callers all wait for the same close)."""
        if self._closing is None:
            self._closing = asyncio.ensure_future(
                _close_quietly(self._ws, reason, self._close_timeout)
            )
        await asyncio.shield(self._closing)


def _transcript(network_id: bytes, client_ephemeral: bytes, server_ephemeral: bytes) -> bytes:
    return tagged_hash(
        b"gc/p2p-handshake",
        encode(
            {
                "version": PROTOCOL_VERSION,
                "network": network_id,
                "client": client_ephemeral,
                "server": server_ephemeral,
            }
        ),
    )


def auth_sign_bytes(transcript: bytes, role: str) -> bytes:
    """What an end signs: the session's transcript hash and its own role in it."""
    return AUTH_PREFIX + encode({"transcript": transcript, "role": role})


def _read_hello(data: bytes, network_id: bytes) -> bytes:
    """The peer's ephemeral key, once its hello shows the same protocol and network."""
    try:
        hello = decode(data, max_size=MAX_HANDSHAKE_MESSAGE)
        if not isinstance(hello, dict) or "version" not in hello:
            raise EncodingError("hello must be a map with a version")
        version = expect_int(hello["version"], "hello version")
        if version != PROTOCOL_VERSION:
            raise LinkError(
                "version", f"peer speaks protocol {version}, we speak {PROTOCOL_VERSION}"
            )
        expect_map(hello, "hello", ("version", "network", "ephemeral"))
        network = expect_bytes(hello["network"], "hello network", max_size=MAX_NETWORK_ID)
        ephemeral = expect_bytes(hello["ephemeral"], "hello ephemeral key", size=PUBLIC_KEY_SIZE)
    except EncodingError as exc:
        raise LinkError("protocol", f"bad hello: {exc.message}") from None
    if network != network_id:
        raise LinkError(
            "wrong_network", f"peer is on network {network.hex()}, we are on {network_id.hex()}"
        )
    return ephemeral


def _read_auth(data: bytes) -> tuple[bytes, bytes]:
    try:
        auth = expect_map(decode(data, max_size=MAX_HANDSHAKE_MESSAGE), "auth", ("key", "sig"))
        key = expect_bytes(auth["key"], "auth key", size=PUBLIC_KEY_SIZE)
        signature = expect_bytes(auth["sig"], "auth signature", size=SIGNATURE_SIZE)
    except EncodingError as exc:
        raise LinkError("protocol", f"bad auth message: {exc.message}") from None
    return key, signature


@dataclass
class Session:
    """A handshake once both hellos are known: the two directions' ciphers (each auth frame is
    frame 0 of its direction) and the transcript both ends sign."""

    sender: _Cipher
    receiver: _Cipher
    transcript: bytes


def client_hello(network_id: bytes) -> tuple[bytes, nacl.public.PrivateKey]:
    """The dialer's hello and the ephemeral secret it keeps until the answer comes."""
    ephemeral = nacl.public.PrivateKey.generate()
    return _hello(network_id, bytes(ephemeral.public_key)), ephemeral


def answer_hello(
    hello: bytes, identity: KeyPair, network_id: bytes, token: bytes
) -> tuple[bytes, Session]:
    """The server's answer to a client's hello (its hello, its sealed auth, `token`) and the
    session it keeps until the client's auth comes. LinkError: version, wrong_network,
    protocol."""
    theirs = _read_hello(hello, network_id)
    ephemeral = nacl.public.PrivateKey.generate()
    ours = bytes(ephemeral.public_key)
    session = _session(ephemeral, theirs, network_id, dialer=False)
    answer = {
        "hello": _hello(network_id, ours),
        "auth": session.sender.seal(_auth(identity, session.transcript, SERVER)),
        "token": token,
    }
    return encode(answer), session


def finish_as_client(
    answer: bytes,
    ephemeral: nacl.public.PrivateKey,
    identity: KeyPair,
    network_id: bytes,
    allowed: Callable[[bytes], bool],
    expected_key: bytes | None,
) -> tuple[bytes, bytes, bytes, Session]:
    """Check the server's answer: (its key, the token, our sealed auth, the session).

    LinkError: version, wrong_network, protocol, bad_signature, self, unexpected_peer,
    not_allowed."""
    hello, auth, token = _read_answer(answer)
    session = _session(ephemeral, _read_hello(hello, network_id), network_id, dialer=True)
    key = _check_auth(session.receiver.open(auth), session.transcript, SERVER, identity, allowed)
    if expected_key is not None and key != expected_key:
        raise LinkError("unexpected_peer", f"expected peer {expected_key.hex()}, got {key.hex()}")
    ours = session.sender.seal(_auth(identity, session.transcript, CLIENT))
    return key, token, ours, session


def finish_as_server(
    auth: bytes, session: Session, identity: KeyPair, allowed: Callable[[bytes], bool]
) -> bytes:
    """The client's key, once its sealed auth checks out (LinkError otherwise)."""
    if len(auth) > MAX_HANDSHAKE_MESSAGE + FRAME_OVERHEAD:
        raise LinkError("protocol", f"handshake message of {len(auth)} bytes is too long")
    return _check_auth(session.receiver.open(auth), session.transcript, CLIENT, identity, allowed)


def _hello(network_id: bytes, ephemeral: bytes) -> bytes:
    return encode({"version": PROTOCOL_VERSION, "network": network_id, "ephemeral": ephemeral})


def _session(
    ephemeral: nacl.public.PrivateKey, theirs: bytes, network_id: bytes, dialer: bool
) -> Session:
    ours = bytes(ephemeral.public_key)
    if theirs == ours:
        raise LinkError("protocol", "peer echoed our ephemeral key")
    exchange = (
        nacl.bindings.crypto_kx_client_session_keys
        if dialer
        else nacl.bindings.crypto_kx_server_session_keys
    )
    try:
        rx, tx = exchange(ours, bytes(ephemeral), theirs)
    except nacl.exceptions.CryptoError:
        raise LinkError("protocol", "peer's ephemeral key is unusable") from None
    client, server = (ours, theirs) if dialer else (theirs, ours)
    return Session(_Cipher(tx), _Cipher(rx), _transcript(network_id, client, server))


def _auth(identity: KeyPair, transcript: bytes, role: str) -> bytes:
    signature = identity.sign(auth_sign_bytes(transcript, role))
    return encode({"key": identity.public_key, "sig": signature})


def _check_auth(
    auth: bytes, transcript: bytes, role: str, identity: KeyPair, allowed: Callable[[bytes], bool]
) -> bytes:
    """The key of an auth message signed for `role` over `transcript`, if we link to it."""
    key, signature = _read_auth(auth)
    if not verify_signature(key, auth_sign_bytes(transcript, role), signature):
        raise LinkError("bad_signature", "peer's handshake signature does not verify")
    if key == identity.public_key:
        raise LinkError("self", "peer claims our own key (did we dial ourselves?)")
    if not allowed(key):
        raise LinkError("not_allowed", f"peer {key.hex()} is not a validator or configured peer")
    return key


def _read_answer(data: bytes) -> tuple[bytes, bytes, bytes]:
    """(hello, sealed auth, token) of a server's answer."""
    try:
        answer = decode(data, max_size=2 * MAX_HANDSHAKE_MESSAGE)
        expect_map(answer, "answer", ("hello", "auth", "token"))
        hello = expect_bytes(answer["hello"], "answer hello", max_size=MAX_HANDSHAKE_MESSAGE)
        auth = expect_bytes(
            answer["auth"], "answer auth", max_size=MAX_HANDSHAKE_MESSAGE + FRAME_OVERHEAD
        )
        token = expect_bytes(answer["token"], "answer token", size=TOKEN_SIZE)
    except EncodingError as exc:
        raise LinkError("protocol", f"bad handshake answer: {exc.message}") from None
    return hello, auth, token
