"""The peer manager: at most one authenticated link per peer key, kept up for persistent peers.

It serves POST /p2p/hello and GET /p2p on its own aiohttp server and dials its persistent
peers, redialing with exponential backoff and jitter. Every link goes through the handshake of
link.py (a hello, then the websocket upgrade carrying the dialer's auth), so `allowed` is asked
again for each new link (the validator set changes), and no websocket is opened for a peer that
has not authenticated.

Per peer the callbacks are strictly sequential: on_connect, on_message for each message in
order, on_disconnect; a later link's on_connect waits for the earlier link's on_disconnect.
Sending only enqueues: each link has one writer task, and a peer whose queue outgrows its bound
is cut off as too slow instead of slowing the node down.

When two nodes dial each other at once, both ends keep the link dialed by the node with the
smaller public key (of two links dialed by the same end, the newer one), so they agree without
talking about it. A swapped link shows as on_disconnect then on_connect; messages in flight on
the closed link may be lost, as on any disconnect.
"""

import asyncio
import json
import logging
import random
import secrets
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
from aiohttp import web

from chain.keys import PUBLIC_KEY_SIZE, KeyPair
from node.p2p.link import (
    CLOSE_TIMEOUT,
    FRAME_OVERHEAD,
    HANDSHAKE_TIMEOUT,
    MAX_HANDSHAKE_MESSAGE,
    MAX_NETWORK_ID,
    TOKEN_SIZE,
    LinkClosed,
    LinkError,
    PeerLink,
    Session,
    WebSocket,
    answer_hello,
    client_hello,
    finish_as_client,
    finish_as_server,
)

log = logging.getLogger("gridchain.peers")

MiB = 1024 * 1024
P2P_PATH = "/p2p"
HELLO_PATH = "/p2p/hello"
TOKEN_HEADER = "Gridchain-Token"
AUTH_HEADER = "Gridchain-Auth"
DEFAULT_MAX_MESSAGE = 32 * MiB
DEFAULT_MAX_QUEUE = 64 * MiB
# Why links end in normal operation; any other reason is logged as a warning.
REFUSAL_LOG_SECONDS = 10.0
PEER_KEEPALIVE_SECONDS = 10.0
MAX_PENDING_PER_ADDRESS = 8  # inbound handshakes at once from one address (of 32 in all)
MAX_ANSWER = 4 * MAX_HANDSHAKE_MESSAGE  # the most of a hello's answer a dialer reads
MAX_AUTH_TRIES = 3  # upgrades with an auth that does not check out before a token is dropped
ORDINARY_REASONS = frozenset({"closed", "duplicate", "shutdown", "no_longer_allowed"})

T = TypeVar("T")
MessageHandler = Callable[[bytes, bytes], Awaitable[None]]
PeerHandler = Callable[[bytes], Awaitable[None]]


class BadMessage(Exception):
    """Raised by `on_message` for a message that costs the peer its link."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class PeerAddress:
    """A peer to keep linked: its public key (the handshake checks it) and its websocket URL."""

    public_key: bytes
    url: str  # e.g. ws://127.0.0.1:26656/p2p

    def __post_init__(self) -> None:
        if len(self.public_key) != PUBLIC_KEY_SIZE:
            raise ValueError(f"a peer key is {PUBLIC_KEY_SIZE} bytes, got {len(self.public_key)}")
        if not self.url.startswith(("ws://", "wss://")):
            raise ValueError(f"peer URL {self.url!r} is not ws:// or wss://")


@dataclass(frozen=True)
class PeerInfo:
    public_key: bytes
    dialed_by_us: bool
    connected_for: float  # seconds
    queued_bytes: int


def short(key: bytes) -> str:
    """The key prefix used in logs."""
    return key.hex()[:12]


def keep_new_link(new: PeerLink, old: PeerLink, our_key: bytes) -> bool:
    """Whether `new` replaces `old` (same peer); the peer's end reaches the same answer."""
    if new.dialer == old.dialer:
        return True  # that end dialed again, so it has given up the old link
    return (our_key < new.peer_key) == new.dialer  # the smaller key's dial wins


class _Peer:
    """One registered link with its outbound queue and tasks."""

    def __init__(self, link: PeerLink, previous: "_Peer | None") -> None:
        self.link = link
        self.key = link.peer_key
        self.previous = previous  # its on_disconnect must run before our on_connect
        self.since = time.monotonic()
        self.queue: deque[bytes] = deque()
        self.queued_bytes = 0
        self.wake = asyncio.Event()
        self.gone = asyncio.Event()  # unregistered: the key is free for another link
        self.finished = asyncio.Event()  # socket closed and on_disconnect done
        self.reason: str | None = None
        self.detail = ""
        self.task: asyncio.Task[None] | None = None
        self.writer: asyncio.Task[None] | None = None


class PeerManager:
    """Keeps links to peers, delivers their messages in order, and sends without blocking."""

    def __init__(
        self,
        identity: KeyPair,
        network_id: bytes,
        allowed: Callable[[bytes], bool],
        persistent: Sequence[PeerAddress],
        on_message: MessageHandler,
        on_connect: PeerHandler | None = None,
        on_disconnect: PeerHandler | None = None,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE,
        *,
        max_queue_bytes: int = DEFAULT_MAX_QUEUE,
        handshake_timeout: float = HANDSHAKE_TIMEOUT,
        close_timeout: float = CLOSE_TIMEOUT,
        heartbeat: float | None = 10.0,
        backoff: tuple[float, float] = (0.2, 5.0),
        stable_after: float = 10.0,
        max_pending_handshakes: int = 32,
    ) -> None:
        if not 0 < len(network_id) <= MAX_NETWORK_ID:
            raise ValueError(f"a network id is 1 to {MAX_NETWORK_ID} bytes")
        by_key: dict[bytes, PeerAddress] = {}
        for address in persistent:
            if by_key.setdefault(address.public_key, address) != address:
                raise ValueError(f"peer {short(address.public_key)} is listed with two URLs")
        by_key.pop(identity.public_key, None)  # a shared peer list may name us too
        if max_message_bytes <= 0 or max_queue_bytes < max_message_bytes:
            raise ValueError("need 0 < max_message_bytes <= max_queue_bytes")
        self.identity = identity
        self.network_id = network_id
        self.max_message_bytes = max_message_bytes
        self.dropped: Counter[str] = Counter()  # links lost, by reason
        self.refused: Counter[str] = Counter()  # handshakes or dials that failed, by reason
        self._refusal_log: dict[str, tuple[float, int]] = {}  # reason: last line, lines saved
        self._allowed = allowed
        self._persistent = tuple(by_key.values())
        self._on_message = on_message
        self._on_connect = on_connect
        self._on_disconnect = on_disconnect
        self._max_queue = max_queue_bytes
        self._handshake_timeout = handshake_timeout
        self._close_timeout = close_timeout
        self._heartbeat = heartbeat
        self._backoff = backoff
        self._stable_after = stable_after
        self._max_pending = max_pending_handshakes
        self._links: dict[bytes, _Peer] = {}
        self._latest: dict[bytes, _Peer] = {}  # newest link per key until it has finished
        self._tasks: set[asyncio.Task[Any]] = set()
        self._cancel_on_stop: set[asyncio.Task[Any]] = set()  # dialers and handshakes
        self._handshakes: dict[bytes, _Pending] = {}  # inbound, by token, until the upgrade
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self._stopping = True  # until the app starts

    @property
    def public_key(self) -> bytes:
        return self.identity.public_key

    @property
    def port(self) -> int | None:
        """The port actually bound (useful after starting on port 0)."""
        if self._runner is None or not self._runner.addresses:
            return None
        port: int = self._runner.addresses[0][1]
        return port

    def connected(self) -> list[bytes]:
        return sorted(self._links)

    def peers(self) -> list[PeerInfo]:
        now = time.monotonic()
        return [
            PeerInfo(key, peer.link.dialer, now - peer.since, peer.queued_bytes)
            for key, peer in sorted(self._links.items())
        ]

    def send(self, peer_key: bytes, payload: bytes) -> bool:
        """Queue `payload` for one peer; False if it has no link (or just lost it as too slow).

        Raises ValueError for a payload over `max_message_bytes`: that is our bug, not the peer's.
        """
        self._check_size(payload)
        peer = self._links.get(peer_key)
        return peer is not None and self._enqueue(peer, payload)

    def broadcast(self, payload: bytes, exclude: bytes | None = None) -> int:
        """Queue `payload` for every linked peer but `exclude`; returns how many took it."""
        self._check_size(payload)
        return sum(
            self._enqueue(peer, payload)
            for key, peer in list(self._links.items())
            if key != exclude
        )

    def disconnect(self, peer_key: bytes, reason: str, kind: str = "bad_message") -> bool:
        """Cut a peer's link now, e.g. for a bad message found after on_message returned.

        Counted in `dropped` under `kind`; False if the peer had no link.
        """
        peer = self._links.get(peer_key)
        if peer is None:
            return False
        self._drop(peer, kind, reason)
        return True

    def drop_disallowed(self) -> list[bytes]:
        """Cut the links `allowed` no longer accepts (call it when the validator set changes)."""
        gone = sorted(key for key in self._links if not self._allowed(key))
        for key in gone:
            self._drop(self._links[key], "no_longer_allowed", "not a validator or configured peer")
        return gone

    async def start(self, host: str, port: int) -> None:
        """Serve GET /p2p on host:port and start dialing the persistent peers."""
        if self._runner is not None:
            raise RuntimeError("the peer manager is already running")
        # Only websocket upgrades come here: a connection that has not asked for one within
        # PEER_KEEPALIVE_SECONDS (idle, or a request half sent) is closed (aiohttp's default
        # keeps it an hour).
        runner = web.AppRunner(
            make_p2p_app(self),
            access_log=None,
            shutdown_timeout=self._close_timeout,
            keepalive_timeout=PEER_KEEPALIVE_SECONDS,
        )
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        log.info(
            "peer links on ws://%s:%s%s as %s", host, self.port, P2P_PATH, short(self.public_key)
        )

    async def stop(self) -> None:
        """Close every link and the server; returns when all of it has finished."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def dial(self, address: PeerAddress) -> bool:
        """One attempt to link to `address`; True if the link was registered."""
        session = self._session
        if session is None or self._stopping:
            return False
        task = self._spawn(self._dial(session, address), f"dial {address.url}", True)
        try:
            link = await task
        except LinkError as exc:
            self.refused[exc.reason] += 1
            if exc.reason == "unreachable":  # a peer that is down: said at every redial
                log.debug("cannot reach %s: %s", short(address.public_key), exc)
            else:
                self._log_refusal(address.url, exc)
            return False
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise
            return False  # we are stopping: the dial itself was cancelled
        return self._register(link) is not None

    async def _dial(self, session: aiohttp.ClientSession, address: PeerAddress) -> PeerLink:
        """The hello, the check of the answer, the upgrade with our auth: the link, or
        LinkError (unreachable, timeout, rejected, and the handshake's own reasons)."""
        hello, ephemeral = client_hello(self.network_id)
        try:
            async with asyncio.timeout(self._handshake_timeout):
                async with session.post(
                    hello_url(address.url),
                    data=hello,
                    headers={"Content-Type": "application/cbor"},
                ) as response:
                    answer = await _read_capped(response.content, MAX_ANSWER)
                    if response.status != 200:
                        raise _refusal_of(response.status, answer)
                key, token, auth, keys = finish_as_client(
                    answer,
                    ephemeral,
                    self.identity,
                    self.network_id,
                    self._allowed,
                    address.public_key,
                )
                ws = await session.ws_connect(
                    address.url,
                    headers={TOKEN_HEADER: token.hex(), AUTH_HEADER: auth.hex()},
                    max_msg_size=self.max_message_bytes + FRAME_OVERHEAD,
                    heartbeat=self._heartbeat,
                    compress=0,
                )
        except aiohttp.WSServerHandshakeError as exc:
            raise LinkError("rejected", f"peer refused the link ({exc.status})") from None
        except TimeoutError:  # before OSError, its base class (aiohttp's too)
            raise LinkError(
                "timeout", f"handshake took longer than {self._handshake_timeout:g} s"
            ) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise LinkError("unreachable", f"cannot reach it: {exc!r}") from None
        return self._link(ws, key, keys, dialer=True)

    def _link(self, ws: WebSocket, key: bytes, keys: Session, dialer: bool) -> PeerLink:
        return PeerLink(
            ws,
            key,
            dialer=dialer,
            sender=keys.sender,
            receiver=keys.receiver,
            max_payload=self.max_message_bytes,
            close_timeout=self._close_timeout,
        )

    # Lifetime, as aiohttp hooks (see make_p2p_app).

    async def _lifetime(self, app: web.Application) -> AsyncIterator[None]:
        self._stopping = False
        self._session = aiohttp.ClientSession()
        for address in self._persistent:
            self._spawn(self._keep_dialing(address), f"dial-{short(address.public_key)}", True)
        try:
            yield
        finally:
            await self._close_all()
            await self._session.close()
            self._session = None

    async def _close_all(self, app: web.Application | None = None) -> None:
        """Cancel dials and handshakes, close every link, wait for every task we started."""
        self._stopping = True
        for task in list(self._cancel_on_stop):
            task.cancel()
        for peer in list(self._links.values()):
            self._drop(peer, "shutdown", "node is stopping")
        runs = {peer.task for peer in self._latest.values() if peer.task is not None}
        if runs:
            _, stuck = await asyncio.wait(runs, timeout=2 * self._close_timeout)
            for task in stuck:  # blocked in a callback
                task.cancel()
        while pending := {task for task in self._tasks if not task.done()}:
            await asyncio.gather(*pending, return_exceptions=True)

    async def _hello(self, request: web.Request) -> web.Response:
        """A dialer's hello: our answer and a token for its upgrade, if it may have one now.

        The body is read first and the limits checked after, with no await in between, so
        concurrent hellos cannot all pass the check. With the table full a pending handshake
        of the busiest address gives way (a real dialer upgrades within a round trip), so
        strangers sending hellos they never follow up cannot keep every other peer out."""
        if self._stopping:
            raise web.HTTPServiceUnavailable(text="node is stopping")
        hello = await request.read()  # the app reads at most MAX_HANDSHAKE_MESSAGE
        now = time.monotonic()
        self._handshakes = {t: h for t, h in self._handshakes.items() if h.deadline > now}
        remote = request.remote or "?"
        if sum(h.remote == remote for h in self._handshakes.values()) >= MAX_PENDING_PER_ADDRESS:
            self.refused["too_many_from_address"] += 1
            raise web.HTTPServiceUnavailable(text="too many handshakes from this address")
        token = secrets.token_bytes(TOKEN_SIZE)
        try:
            answer, keys = answer_hello(hello, self.identity, self.network_id, token)
        except LinkError as exc:
            return self._refuse(f"inbound from {remote}", exc, 400)
        if len(self._handshakes) >= self._max_pending:
            self.refused["too_many_pending"] += 1
            del self._handshakes[self._evictable()]
        self._handshakes[token] = _Pending(remote, now + self._handshake_timeout, keys)
        return web.Response(body=answer, content_type="application/cbor")

    def _evictable(self) -> bytes:
        """The token that gives way when the table is full: the oldest of the address holding
        the most pending handshakes, so a flood from a few addresses evicts its own first."""
        counts = Counter(h.remote for h in self._handshakes.values())
        busiest = max(counts.values())
        return next(t for t, h in self._handshakes.items() if counts[h.remote] == busiest)

    async def _accept(self, request: web.Request) -> web.StreamResponse:
        """The upgrade: a websocket only for the dialer whose auth checks out. The token is
        used up only by an auth that checks out (one who saw it cannot burn it with junk); its
        remote address is not held to the hello's (the sealed auth is what authenticates)."""
        if self._stopping:
            raise web.HTTPServiceUnavailable(text="node is stopping")
        remote = request.remote or "?"
        where = f"inbound from {remote}"
        try:
            token = _header_bytes(request, TOKEN_HEADER, TOKEN_SIZE)
            auth = _header_bytes(request, AUTH_HEADER, MAX_HANDSHAKE_MESSAGE + FRAME_OVERHEAD)
            pending = self._handshakes.get(token)
            if pending is None or pending.deadline < time.monotonic():
                raise LinkError("unknown_handshake", "no handshake of that token in progress")
            try:
                key = finish_as_server(auth, pending.keys, self.identity, self._allowed)
            except LinkError:
                pending.failures += 1  # a few tries (a junk auth cannot burn an honest one)
                if pending.failures >= MAX_AUTH_TRIES:
                    self._handshakes.pop(token, None)
                raise
            del self._handshakes[token]
        except LinkError as exc:
            return self._refuse(where, exc, 403)
        ws = web.WebSocketResponse(
            max_msg_size=self.max_message_bytes + FRAME_OVERHEAD,
            heartbeat=self._heartbeat,
            compress=False,
            timeout=self._close_timeout,
        )
        await ws.prepare(request)
        peer = self._register(self._link(ws, key, pending.keys, dialer=False))
        if peer is not None:
            await peer.finished.wait()  # the websocket lives as long as this handler
        return ws

    def _refuse(self, where: str, exc: LinkError, status: int) -> web.Response:
        self.refused[exc.reason] += 1
        self._log_refusal(where, exc)
        body = {"error": {"code": exc.reason, "message": exc.message}}
        return web.json_response(body, status=status)

    # Links

    def _register(self, link: PeerLink) -> _Peer | None:
        """Make `link` the peer's link, or refuse it (stopping, or it loses a tie)."""
        key = link.peer_key
        if self._stopping:
            self._spawn(link.close("shutdown"), "close")
            return None
        current = self._links.get(key)
        if current is not None:
            if not keep_new_link(link, current.link, self.public_key):
                self.dropped["duplicate"] += 1
                log.info("already linked to %s; closing the second link", short(key))
                self._spawn(link.close("duplicate"), "close")
                return None
            self._drop(current, "duplicate", "replaced by the link dialed by the smaller key")
        peer = _Peer(link, self._latest.get(key))
        self._links[key] = peer
        self._latest[key] = peer
        peer.task = self._spawn(self._run(peer), f"peer-{short(key)}")
        return peer

    def _log_refusal(self, where: str, exc: LinkError) -> None:
        """One line per reason per REFUSAL_LOG_SECONDS, with how many were not logged: anyone
        can dial the peer port, and must not be able to fill the log (the counts are in
        /metrics)."""
        now = time.monotonic()
        last, quiet = self._refusal_log.get(exc.reason, (-REFUSAL_LOG_SECONDS, 0))
        if now - last < REFUSAL_LOG_SECONDS:
            self._refusal_log[exc.reason] = (last, quiet + 1)
            return
        self._refusal_log[exc.reason] = (now, 0)
        more = f" ({quiet} more refused for {exc.reason} since the last line)" if quiet else ""
        log.info("handshake with %s failed (%s): %s%s", where, exc.reason, exc, more)

    def _drop(self, peer: _Peer, reason: str, detail: str) -> None:
        """End the peer's link (idempotent); the first reason is the one counted and logged."""
        if peer.reason is not None:
            return
        peer.reason, peer.detail = reason, detail
        self.dropped[reason] += 1
        if self._links.get(peer.key) is peer:
            del self._links[peer.key]
        peer.gone.set()
        if reason not in ORDINARY_REASONS:
            log.warning("dropping peer %s: %s (%s)", short(peer.key), reason, detail)
        if peer.writer is not None and peer.writer is not asyncio.current_task():
            peer.writer.cancel()
        self._spawn(peer.link.close(reason), "close")  # wakes the reader

    async def _run(self, peer: _Peer) -> None:
        key = peer.key
        writer = peer.writer = self._spawn(self._write(peer), f"peer-writer-{short(key)}")
        connected = False
        try:
            if peer.previous is not None:
                await peer.previous.finished.wait()
                peer.previous = None
            if peer.reason is None:
                connected = True
                way = "dialed" if peer.link.dialer else "accepted"
                log.info("connected to %s (%s)", short(key), way)
                if self._on_connect is not None:
                    await self._on_connect(key)
                await self._read(peer)
        except Exception as exc:
            log.exception("peer %s: message handler failed", short(key))
            self._drop(peer, "handler_error", repr(exc))
        finally:
            self._drop(peer, "closed", "")
            writer.cancel()
            await peer.link.close(peer.reason or "")
            if connected:
                why = f"{peer.reason}: {peer.detail}" if peer.detail else peer.reason
                log.info("disconnected from %s (%s)", short(key), why)
                if self._on_disconnect is not None:
                    try:
                        await self._on_disconnect(key)
                    except Exception:
                        log.exception("peer %s: disconnect handler failed", short(key))
            peer.finished.set()
            if self._latest.get(key) is peer:
                del self._latest[key]

    async def _read(self, peer: _Peer) -> None:
        while peer.reason is None:
            try:
                payload = await peer.link.recv()
            except LinkClosed as exc:
                self._drop(peer, "closed", str(exc))
                return
            except LinkError as exc:
                self._drop(peer, exc.reason, exc.message)
                return
            if peer.reason is not None:
                return
            try:
                await self._on_message(peer.key, payload)
            except BadMessage as exc:
                self._drop(peer, "bad_message", exc.reason)

    async def _write(self, peer: _Peer) -> None:
        try:
            while True:
                while not peer.queue:
                    peer.wake.clear()
                    await peer.wake.wait()
                payload = peer.queue[0]
                await peer.link.send(payload)
                peer.queue.popleft()
                peer.queued_bytes -= len(payload)
        except LinkClosed as exc:
            self._drop(peer, "closed", str(exc))
        except LinkError as exc:
            self._drop(peer, exc.reason, exc.message)

    def _enqueue(self, peer: _Peer, payload: bytes) -> bool:
        if peer.reason is not None:
            return False
        if peer.queued_bytes + len(payload) > self._max_queue:
            self._drop(peer, "too_slow", f"over {self._max_queue} bytes queued for it")
            return False
        peer.queue.append(payload)
        peer.queued_bytes += len(payload)
        peer.wake.set()
        return True

    def _check_size(self, payload: bytes) -> None:
        if len(payload) > self.max_message_bytes:
            raise ValueError(
                f"message of {len(payload)} bytes exceeds the limit of {self.max_message_bytes}"
            )

    async def _keep_dialing(self, address: PeerAddress) -> None:
        """Keep a link to a persistent peer: redial with doubling, jittered delays."""
        key = address.public_key
        low, high = self._backoff
        delay = low
        while True:
            peer = self._links.get(key)
            try:
                if peer is None and await self.dial(address):
                    peer = self._links.get(key)
            except Exception:  # a bug must not end the redialing of a persistent peer
                log.exception("dialing %s failed unexpectedly", short(key))
            if peer is not None:
                await peer.gone.wait()
                if time.monotonic() - peer.since >= self._stable_after:
                    delay = low
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, high)

    def _spawn(
        self, coro: Coroutine[Any, Any, T], name: str, cancel_on_stop: bool = False
    ) -> asyncio.Task[T]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if cancel_on_stop:
            self._cancel_on_stop.add(task)
            task.add_done_callback(self._cancel_on_stop.discard)
        return task


PEER_MANAGER_KEY = web.AppKey("peer_manager", PeerManager)


async def _p2p_handler(request: web.Request) -> web.StreamResponse:
    return await request.app[PEER_MANAGER_KEY]._accept(request)


async def _hello_handler(request: web.Request) -> web.StreamResponse:
    return await request.app[PEER_MANAGER_KEY]._hello(request)


def make_p2p_app(manager: PeerManager) -> web.Application:
    """The /p2p endpoints: dialers and links live with the app; links close on its shutdown.
    No request body bigger than a hello is read before a peer is authenticated."""
    app = web.Application(client_max_size=MAX_HANDSHAKE_MESSAGE)
    app[PEER_MANAGER_KEY] = manager
    app.router.add_post(HELLO_PATH, _hello_handler)
    app.router.add_get(P2P_PATH, _p2p_handler)
    app.cleanup_ctx.append(manager._lifetime)
    app.on_shutdown.append(manager._close_all)
    return app


@dataclass
class _Pending:
    """An inbound handshake between its hello and its upgrade."""

    remote: str
    deadline: float  # time.monotonic()
    keys: Session
    failures: int = 0  # upgrades whose auth did not check out


def hello_url(url: str) -> str:
    """ws://host:port/p2p -> http://host:port/p2p/hello (wss -> https)."""
    scheme, rest = url.split("://", 1)
    return f"{'https' if scheme == 'wss' else 'http'}://{rest.rstrip('/')}/hello"


def _header_bytes(request: web.Request, name: str, most: int) -> bytes:
    text = request.headers.get(name, "")
    try:
        data = bytes.fromhex(text)
    except ValueError:
        data = b""
    if not data or len(data) > most:
        raise LinkError("protocol", f"the upgrade has no valid {name} header")
    return data


# What a peer may say it refused our hello for (it names our counters' labels: nothing else).
HELLO_REFUSALS = frozenset({"version", "wrong_network", "protocol"})


def _refusal_of(status: int, body: bytes) -> LinkError:
    """The peer's refusal of our hello: one of HELLO_REFUSALS if its JSON says so (the
    message shortened and made one printable line), else `rejected`."""
    try:
        error = json.loads(body)["error"]
        code, message = str(error["code"]), str(error["message"])
    except Exception:  # whatever the peer sent (RecursionError for deep JSON included)
        return LinkError("rejected", f"peer answered the hello with {status}")
    if code not in HELLO_REFUSALS:
        return LinkError("rejected", f"peer answered the hello with {status}")
    said = "".join(c if c.isprintable() else "?" for c in message[:200])
    return LinkError(code, f"peer refused the hello: {said}")


async def _read_capped(content: aiohttp.StreamReader, most: int) -> bytes:
    """The whole body, up to `most` bytes (a read returns what has arrived, not all of it)."""
    data = b""
    while len(data) <= most:
        chunk = await content.read(most + 1 - len(data))
        if not chunk:
            break
        data += chunk
    return data
