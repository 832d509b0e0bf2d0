"""Authenticated, encrypted links between nodes, over an already-open websocket.

Handshake (both ends, one websocket; the dialer is the key-exchange client):

1. hello, in the clear: {"version", "network", "ephemeral"} in canonical CBOR, where
   "ephemeral" is a fresh X25519 public key. A wrong network or version ends it here.
2. Directional session keys from libsodium's key exchange (crypto_kx) over the two ephemeral
   keys; from here on every message is a sealed frame (below).
3. server -> client: auth {"key", "signature"}; the client checks it, then client -> server its
   own auth; the server checks it and answers with an empty ack frame.

Each auth signs the transcript (network id and both ephemeral keys, client's first) plus the
signer's role, so a signature is worthless in any other session (fresh ephemeral keys) and cannot
be reflected back (wrong role). The server proves itself first so a dialer checks the key it
expected before it reveals its own; the ack means neither end holds a link the other refused.

Frames: `nacl.secret.SecretBox` under the direction's key, sent as nonce || ciphertext, where
the nonce is a 24-byte little-endian frame counter from 0 (the auth frames included). The
receiver requires exactly the next counter, so a replayed, reordered or dropped frame ends the
link, as does any frame that fails to authenticate.
"""

import asyncio
import contextlib
from collections.abc import Callable
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

PROTOCOL_VERSION = 1
NONCE_SIZE = nacl.secret.SecretBox.NONCE_SIZE  # 24
FRAME_OVERHEAD = NONCE_SIZE + nacl.secret.SecretBox.MACBYTES  # 40 bytes on top of a payload
DEFAULT_MAX_PAYLOAD = 32 * 1024 * 1024
HANDSHAKE_TIMEOUT = 5.0
CLOSE_TIMEOUT = 2.0
MAX_NETWORK_ID = 64
MAX_HANDSHAKE_MESSAGE = 1024
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
    kind, data, extra = await ws.receive()
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
    """An authenticated, encrypted message channel to one peer; made by `handshake`.

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


async def handshake(
    ws: WebSocket,
    identity: KeyPair,
    network_id: bytes,
    allowed: Callable[[bytes], bool],
    *,
    dialer: bool,
    expected_key: bytes | None = None,
    max_payload: int = DEFAULT_MAX_PAYLOAD,
    timeout: float = HANDSHAKE_TIMEOUT,
    close_timeout: float = CLOSE_TIMEOUT,
) -> PeerLink:
    """Authenticate the peer on `ws` and return the link; on any failure `ws` is closed.

    Raises LinkError (reasons: version, wrong_network, protocol, bad_signature, self,
    unexpected_peer, not_allowed, rejected, timeout, ...).
    """
    try:
        async with asyncio.timeout(timeout):
            return await _handshake(
                ws, identity, network_id, allowed, dialer, expected_key, max_payload, close_timeout
            )
    except LinkError as exc:
        await _close_quietly(ws, exc.reason, close_timeout)
        raise
    except LinkClosed as exc:
        await _close_quietly(ws, "closed", close_timeout)
        raise LinkError("rejected", f"handshake ended by the peer ({exc})") from None
    except TimeoutError:
        await _close_quietly(ws, "timeout", close_timeout)
        raise LinkError("timeout", f"handshake took longer than {timeout:g} s") from None
    except BaseException:
        await _close_quietly(ws, "error", close_timeout)
        raise


async def _handshake(
    ws: WebSocket,
    identity: KeyPair,
    network_id: bytes,
    allowed: Callable[[bytes], bool],
    dialer: bool,
    expected_key: bytes | None,
    max_payload: int,
    close_timeout: float,
) -> PeerLink:
    ephemeral = nacl.public.PrivateKey.generate()
    our_ephemeral = bytes(ephemeral.public_key)
    hello = {"version": PROTOCOL_VERSION, "network": network_id, "ephemeral": our_ephemeral}
    await _send(ws, encode(hello))
    their_ephemeral = _read_hello(await _receive_handshake_frame(ws), network_id)
    if their_ephemeral == our_ephemeral:
        raise LinkError("protocol", "peer echoed our ephemeral key")

    try:
        if dialer:
            rx, tx = nacl.bindings.crypto_kx_client_session_keys(
                our_ephemeral, bytes(ephemeral), their_ephemeral
            )
        else:
            rx, tx = nacl.bindings.crypto_kx_server_session_keys(
                our_ephemeral, bytes(ephemeral), their_ephemeral
            )
    except nacl.exceptions.CryptoError:
        raise LinkError("protocol", "peer's ephemeral key is unusable") from None
    sender, receiver = _Cipher(tx), _Cipher(rx)
    client_eph, server_eph = (
        (our_ephemeral, their_ephemeral) if dialer else (their_ephemeral, our_ephemeral)
    )
    transcript = _transcript(network_id, client_eph, server_eph)
    our_role, their_role = (CLIENT, SERVER) if dialer else (SERVER, CLIENT)
    auth = encode(
        {
            "key": identity.public_key,
            "sig": identity.sign(auth_sign_bytes(transcript, our_role)),
        }
    )

    async def check_peer() -> bytes:
        key, signature = _read_auth(receiver.open(await _receive_handshake_frame(ws)))
        if not verify_signature(key, auth_sign_bytes(transcript, their_role), signature):
            raise LinkError("bad_signature", "peer's handshake signature does not verify")
        if key == identity.public_key:
            raise LinkError("self", "peer claims our own key (did we dial ourselves?)")
        if expected_key is not None and key != expected_key:
            raise LinkError(
                "unexpected_peer", f"expected peer {expected_key.hex()}, got {key.hex()}"
            )
        if not allowed(key):
            raise LinkError(
                "not_allowed", f"peer {key.hex()} is not a validator or configured peer"
            )
        return key

    if dialer:
        peer_key = await check_peer()
        await _send(ws, sender.seal(auth))
        if receiver.open(await _receive_handshake_frame(ws)) != b"":
            raise LinkError("protocol", "bad handshake ack")
    else:
        await _send(ws, sender.seal(auth))
        peer_key = await check_peer()
        await _send(ws, sender.seal(b""))
    return PeerLink(
        ws,
        peer_key,
        dialer=dialer,
        sender=sender,
        receiver=receiver,
        max_payload=max_payload,
        close_timeout=close_timeout,
    )


async def _send(ws: WebSocket, data: bytes) -> None:
    try:
        await ws.send_bytes(data)
    except ConnectionError as exc:
        raise LinkClosed(str(exc)) from None


async def _receive_handshake_frame(ws: WebSocket) -> bytes:
    frame = await _receive_frame(ws)
    if len(frame) > MAX_HANDSHAKE_MESSAGE + FRAME_OVERHEAD:
        raise LinkError("protocol", f"handshake message of {len(frame)} bytes is too long")
    return frame
