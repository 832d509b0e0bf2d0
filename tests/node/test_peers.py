"""Peer links and the peer manager over real sockets on 127.0.0.1, with real keys."""

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import nacl.bindings
import nacl.public
import pytest
from aiohttp import web

from chain.encoding import decode, encode
from chain.hashing import hash32
from chain.keys import KeyPair
from node.metrics import NodeMetrics
from node.p2p import manager as manager_module
from node.p2p.link import (
    FRAME_OVERHEAD,
    MAX_HANDSHAKE_MESSAGE,
    PROTOCOL_VERSION,
    TOKEN_SIZE,
    LinkClosed,
    LinkError,
    PeerLink,
    Session,
    WebSocket,
    _Cipher,
    _transcript,
    answer_hello,
    auth_sign_bytes,
    client_hello,
    finish_as_client,
    finish_as_server,
)
from node.p2p.manager import (
    AUTH_HEADER,
    HELLO_PATH,
    MAX_PENDING_PER_ADDRESS,
    P2P_PATH,
    TOKEN_HEADER,
    BadMessage,
    PeerAddress,
    PeerManager,
    _refusal_of,
    keep_new_link,
)
from tests.kit.support import dev_key, free_port

NET = hash32(b"test-network")
OTHER_NET = hash32(b"other-network")
FAST: dict[str, Any] = {
    "backoff": (0.05, 0.3),
    "handshake_timeout": 2.0,
    "close_timeout": 1.0,
    "heartbeat": None,
}


def allow_all(key: bytes) -> bool:
    return True


async def eventually(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


# Link level: a real websocket pair, driven directly.


class Tap:
    """A websocket whose outgoing frames the test records and may alter or drop once."""

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws
        self.sent: list[bytes] = []
        self.alter: Callable[[bytes], bytes | None] | None = None

    @property
    def closed(self) -> bool:
        return self.ws.closed

    async def send_bytes(self, data: bytes, compress: int | None = None) -> None:
        self.sent.append(data)
        if self.alter is not None:
            altered, self.alter = self.alter(data), None
            if altered is None:
                return
            data = altered
        await self.ws.send_bytes(data)

    async def receive(self, timeout: float | None = None) -> tuple[aiohttp.WSMsgType, Any, Any]:
        return await self.ws.receive(timeout)

    async def close(self, *, code: int = 1000, message: bytes = b"") -> bool:
        return await self.ws.close(code=code, message=message)


@contextlib.asynccontextmanager
async def ws_pair() -> AsyncIterator[tuple[Tap, web.WebSocketResponse]]:
    """(client end wrapped in a Tap, server end) of one websocket over 127.0.0.1."""
    loop = asyncio.get_running_loop()
    server_end: asyncio.Future[web.WebSocketResponse] = loop.create_future()
    done = asyncio.Event()

    async def accept(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        server_end.set_result(ws)
        await done.wait()
        return ws

    app = web.Application()
    app.router.add_get("/p2p", accept)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with aiohttp.ClientSession() as session:
            client = await session.ws_connect(f"ws://127.0.0.1:{port}/p2p")
            server = await server_end
            try:
                yield Tap(client), server
            finally:
                await asyncio.gather(client.close(), server.close())
                done.set()
    finally:
        await runner.cleanup()


A, B, C = dev_key("peer-a"), dev_key("peer-b"), dev_key("peer-c")
TOKEN = b"t" * TOKEN_SIZE


def handshake(
    client: dict[str, Any] | None = None, server: dict[str, Any] | None = None
) -> tuple[tuple[bytes, Session], tuple[bytes, Session]]:
    """The handshake's three messages passed by hand (what the managers carry over HTTP):
    ((server's key, client session), (client's key, server session)); LinkError from the end
    that refuses."""
    c: dict[str, Any] = {"identity": A, "network_id": NET, "allowed": allow_all, **(client or {})}
    s: dict[str, Any] = {"identity": B, "network_id": NET, "allowed": allow_all, **(server or {})}
    c.setdefault("expected_key", s["identity"].public_key)
    hello, ephemeral = client_hello(c["network_id"])
    answer, server_keys = answer_hello(hello, s["identity"], s["network_id"], TOKEN)
    key, token, auth, client_keys = finish_as_client(
        answer, ephemeral, c["identity"], c["network_id"], c["allowed"], c["expected_key"]
    )
    assert token == TOKEN
    client_key = finish_as_server(auth, server_keys, s["identity"], s["allowed"])
    return (key, client_keys), (client_key, server_keys)


@contextlib.asynccontextmanager
async def link_pair(
    client_max: int = 1 << 20, server_max: int = 1 << 20
) -> AsyncIterator[tuple[PeerLink, PeerLink, Tap]]:
    (b_key, client_keys), (a_key, server_keys) = handshake()
    async with ws_pair() as (tap, server_ws):
        client = PeerLink(
            tap, b_key, dialer=True, sender=client_keys.sender,
            receiver=client_keys.receiver, max_payload=client_max, close_timeout=1.0,
        )  # fmt: skip
        server = PeerLink(
            server_ws, a_key, dialer=False, sender=server_keys.sender,
            receiver=server_keys.receiver, max_payload=server_max, close_timeout=1.0,
        )  # fmt: skip
        yield client, server, tap


def reason_of(result: object) -> str:
    assert isinstance(result, LinkError), result
    return result.reason


async def test_link_carries_messages_both_ways_in_order() -> None:
    async with link_pair(client_max=3 << 20, server_max=3 << 20) as (client, server, _):
        assert (client.peer_key, server.peer_key) == (B.public_key, A.public_key)
        assert client.dialer and not server.dialer
        for i in range(20):
            await client.send(b"c%d" % i)
            await server.send(b"s%d" % i)
        assert [await server.recv() for _ in range(20)] == [b"c%d" % i for i in range(20)]
        assert [await client.recv() for _ in range(20)] == [b"s%d" % i for i in range(20)]
        await client.send(b"")
        assert await server.recv() == b""
        big = bytes(range(256)) * 8192  # 2 MiB: sealed and opened off the event loop
        await server.send(big)
        assert await client.recv() == big
        closed = await asyncio.gather(client.close(), server.recv(), return_exceptions=True)
        assert isinstance(closed[1], LinkClosed)


async def test_frames_are_encrypted_and_counted_from_zero() -> None:
    async with link_pair() as (client, server, tap):
        await client.send(b"secret payload")
        assert await server.recv() == b"secret payload"
        frame = tap.sent[-1]
        assert b"secret" not in frame
        assert len(frame) == len(b"secret payload") + FRAME_OVERHEAD
        # the auth frame was 0, so this first message is frame 1 of the client's direction
        assert int.from_bytes(frame[:24], "little") == 1


def flip_last_byte(frame: bytes) -> bytes:
    return frame[:-1] + bytes([frame[-1] ^ 1])


@pytest.mark.parametrize(
    ("alter", "reason"),
    [
        (flip_last_byte, "bad_frame"),
        (lambda frame: frame[:30] + bytes([frame[30] ^ 0x80]) + frame[31:], "bad_frame"),
        (lambda frame: None, "bad_counter"),  # a dropped frame: the next one is out of order
    ],
    ids=["flipped-ciphertext", "flipped-early-byte", "dropped"],
)
async def test_a_tampered_or_missing_frame_kills_the_link(
    alter: Callable[[bytes], bytes | None], reason: str
) -> None:
    async with link_pair() as (client, server, tap):
        await client.send(b"first")
        assert await server.recv() == b"first"
        tap.alter = alter
        await client.send(b"second")
        await client.send(b"third")
        got = await asyncio.gather(server.recv(), client.recv(), return_exceptions=True)
        assert reason_of(got[0]) == reason
        assert isinstance(got[1], LinkClosed)
        assert server.closed and client.closed


async def test_a_replayed_frame_kills_the_link() -> None:
    async with link_pair() as (client, server, tap):
        await client.send(b"pay alice 5")
        assert await server.recv() == b"pay alice 5"
        await tap.ws.send_bytes(tap.sent[-1])  # the same frame again, byte for byte
        got = await asyncio.gather(server.recv(), client.recv(), return_exceptions=True)
        assert reason_of(got[0]) == "bad_counter"
        assert "replayed" in str(got[0])
        assert isinstance(got[1], LinkClosed)


async def test_a_text_message_kills_the_link() -> None:
    async with link_pair() as (client, server, tap):
        assert isinstance(tap.ws, aiohttp.ClientWebSocketResponse)
        await tap.ws.send_str("hello")
        got = await asyncio.gather(server.recv(), client.recv(), return_exceptions=True)
        assert reason_of(got[0]) == "protocol"


async def test_oversized_messages_are_refused_both_ways() -> None:
    async with link_pair(client_max=10_000, server_max=1000) as (client, server, _):
        await client.send(b"x" * 1000)
        assert await server.recv() == b"x" * 1000
        await client.send(b"x" * 1001)  # within the client's limit, over the server's
        got = await asyncio.gather(server.recv(), client.recv(), return_exceptions=True)
        assert reason_of(got[0]) == "oversized"
        assert isinstance(got[1], LinkClosed)
    async with link_pair(client_max=1000) as (client, server, _):
        got = await asyncio.gather(client.send(b"x" * 1001), server.recv(), return_exceptions=True)
        assert reason_of(got[0]) == "oversized"
        assert isinstance(got[1], LinkClosed)
        assert client.closed
        with pytest.raises(LinkClosed):
            await client.send(b"small")


@pytest.mark.parametrize(
    ("client", "server", "reason", "words"),
    [
        ({}, {"network_id": OTHER_NET}, "wrong_network", "on network"),
        ({}, {"allowed": lambda key: False}, "not_allowed", "not a validator"),
        ({"allowed": lambda key: False}, {}, "not_allowed", "not a validator"),
        ({"expected_key": C.public_key}, {}, "unexpected_peer", "expected peer"),
        ({"identity": B}, {}, "self", "our own key"),
    ],
    ids=["network", "server-refuses", "client-refuses", "unexpected", "self"],
)
def test_handshake_refusals_say_why(
    client: dict[str, Any], server: dict[str, Any], reason: str, words: str
) -> None:
    with pytest.raises(LinkError) as refused:
        handshake(client, server)
    assert refused.value.reason == reason and words in str(refused.value)


def test_a_hello_of_another_version_is_refused() -> None:
    hello = encode({"version": 1, "network": NET, "ephemeral": b"e" * 32})
    with pytest.raises(LinkError) as refused:
        answer_hello(hello, B, NET, TOKEN)
    assert refused.value.reason == "version"


def impostor_answer(hello: bytes, key: KeyPair, role: str) -> tuple[bytes, Session]:
    """A server's answer written out by hand that signs the transcript under `role`."""
    ephemeral = nacl.public.PrivateKey.generate()
    ours = bytes(ephemeral.public_key)
    theirs = decode(hello)["ephemeral"]
    rx, tx = nacl.bindings.crypto_kx_server_session_keys(ours, bytes(ephemeral), theirs)
    transcript = _transcript(NET, theirs, ours)
    keys = Session(_Cipher(tx), _Cipher(rx), transcript)
    signature = key.sign(auth_sign_bytes(transcript, role))
    auth = keys.sender.seal(encode({"key": key.public_key, "sig": signature}))
    server_hello = encode({"version": PROTOCOL_VERSION, "network": NET, "ephemeral": ours})
    return encode({"hello": server_hello, "auth": auth, "token": TOKEN}), keys


@pytest.mark.parametrize("role", ["server", "client"])
def test_a_signature_for_the_other_role_is_refused(role: str) -> None:
    """A reflected signature (the client's role) does not authenticate a server, nor the
    server's role a client."""
    hello, ephemeral = client_hello(NET)
    answer, server_keys = impostor_answer(hello, B, role)
    if role == "client":
        with pytest.raises(LinkError) as refused:
            finish_as_client(answer, ephemeral, A, NET, allow_all, B.public_key)
        assert refused.value.reason == "bad_signature"
        return
    key, _, _, client_keys = finish_as_client(answer, ephemeral, A, NET, allow_all, B.public_key)
    assert key == B.public_key
    # the client's auth, signed as a server, is refused by the server
    signature = A.sign(auth_sign_bytes(client_keys.transcript, "server"))
    client_keys.sender.counter = 0  # in place of the honest auth, frame 0
    reflected = client_keys.sender.seal(encode({"key": A.public_key, "sig": signature}))
    with pytest.raises(LinkError) as refused:
        finish_as_server(reflected, server_keys, B, allow_all)
    assert refused.value.reason == "bad_signature"


# Manager level.


class Member:
    """One peer manager under test, with what it delivered."""

    def __init__(self, name: str, port: int) -> None:
        self.key = dev_key("peer-" + name)
        self.port = port
        self.messages: list[tuple[bytes, bytes]] = []
        self.events: list[tuple[str, bytes]] = []
        self.manager: PeerManager | None = None
        self.refuse: set[bytes] = set()  # payloads on_message raises BadMessage for
        self.hold: asyncio.Event | None = None  # on_message waits for it: a stuck consumer

    @property
    def pk(self) -> bytes:
        return self.key.public_key

    @property
    def address(self) -> PeerAddress:
        return PeerAddress(self.pk, f"ws://127.0.0.1:{self.port}/p2p")

    @property
    def peers(self) -> PeerManager:
        assert self.manager is not None
        return self.manager

    def received_from(self, other: "Member") -> list[bytes]:
        return [payload for peer, payload in self.messages if peer == other.pk]

    async def on_message(self, peer: bytes, payload: bytes) -> None:
        if payload in self.refuse:
            raise BadMessage(f"refused {payload!r}")
        if self.hold is not None:
            await self.hold.wait()
        self.messages.append((peer, payload))

    async def on_connect(self, peer: bytes) -> None:
        self.events.append(("connect", peer))

    async def on_disconnect(self, peer: bytes) -> None:
        self.events.append(("disconnect", peer))


class Cluster:
    def __init__(self) -> None:
        self.members: dict[str, Member] = {}
        self.started: list[PeerManager] = []

    def __getitem__(self, name: str) -> Member:
        if name not in self.members:
            self.members[name] = Member(name, free_port())
        return self.members[name]

    async def start(
        self,
        name: str,
        persistent: tuple[str, ...] = (),
        allowed: Callable[[bytes], bool] = allow_all,
        network: bytes = NET,
        **kwargs: Any,
    ) -> Member:
        member = self[name]
        member.manager = PeerManager(
            member.key,
            network,
            allowed,
            [self[other].address for other in persistent],
            member.on_message,
            member.on_connect,
            member.on_disconnect,
            **{**FAST, **kwargs},
        )
        self.started.append(member.manager)
        await member.manager.start("127.0.0.1", member.port)
        return member

    async def stop_all(self) -> None:
        for manager in self.started:
            await manager.stop()


@pytest.fixture
async def cluster() -> AsyncIterator[Cluster]:
    c = Cluster()
    try:
        yield c
    finally:
        await c.stop_all()


def linked(*members: Member) -> Callable[[], bool]:
    """Every member linked to exactly the others."""

    def check() -> bool:
        return all(
            m.peers.connected() == sorted(o.pk for o in members if o is not m) for m in members
        )

    return check


async def test_two_managers_exchange_messages_both_ways_in_order(cluster: Cluster) -> None:
    b = await cluster.start("b")
    a = await cluster.start("a", persistent=("b",))
    await eventually(linked(a, b))
    assert a.events == [("connect", b.pk)] and b.events == [("connect", a.pk)]
    assert a.peers.peers()[0].dialed_by_us and not b.peers.peers()[0].dialed_by_us
    for i in range(200):
        assert a.peers.send(b.pk, b"a%d" % i)
        assert b.peers.send(a.pk, b"b%d" % i)
    await eventually(lambda: len(a.messages) == len(b.messages) == 200)
    assert b.received_from(a) == [b"a%d" % i for i in range(200)]
    assert a.received_from(b) == [b"b%d" % i for i in range(200)]
    big = b"\x01" * (5 << 20)  # over aiohttp's default 4 MiB websocket limit
    assert a.peers.send(b.pk, big)
    await eventually(lambda: len(b.messages) == 201)
    assert b.messages[-1] == (a.pk, big)
    assert a.peers.send(dev_key("stranger").public_key, b"x") is False
    with pytest.raises(ValueError, match="exceeds the limit"):
        a.peers.send(b.pk, b"x" * (a.peers.max_message_bytes + 1))


async def test_three_managers_broadcast_in_order(cluster: Cluster) -> None:
    c = await cluster.start("c")
    b = await cluster.start("b", persistent=("c",))
    a = await cluster.start("a", persistent=("b", "c"))
    await eventually(linked(a, b, c))
    members = (a, b, c)
    for i in range(30):
        for m in members:
            assert m.peers.broadcast(b"%d" % i) == 2
    await eventually(lambda: all(len(m.messages) == 60 for m in members))
    for m in members:
        for other in members:
            if other is not m:
                assert m.received_from(other) == [b"%d" % i for i in range(30)]
    assert a.peers.broadcast(b"not for b", exclude=b.pk) == 1
    await eventually(lambda: c.received_from(a)[-1] == b"not for b")
    assert b"not for b" not in b.received_from(a)


async def test_a_key_that_is_not_allowed_gets_no_link(cluster: Cluster) -> None:
    a_key = dev_key("peer-a").public_key
    b = await cluster.start("b", allowed=lambda key: key != a_key)
    a = await cluster.start("a", persistent=("b",))
    await eventually(lambda: b.peers.refused["not_allowed"] >= 2)  # refused, and again
    assert a.peers.refused["rejected"] >= 2
    assert a.peers.connected() == [] and b.peers.connected() == []
    assert a.events == [] and b.events == []


async def test_refusals_are_counted_in_metrics_and_logged_sparingly(
    cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    """Anyone can dial the peer port: each refusal is counted, but a line is logged per reason
    at most every REFUSAL_LOG_SECONDS, so refusals cannot fill the log."""
    caplog.set_level(logging.INFO, "gridchain.peers")
    a_key = dev_key("peer-a").public_key
    b = await cluster.start("b", allowed=lambda key: key != a_key)
    await cluster.start("a", persistent=("b",))
    await eventually(lambda: b.peers.refused["not_allowed"] >= 3)
    lines = [r for r in caplog.records if "failed (not_allowed): " in r.getMessage()]
    assert len(lines) == 1  # three or more refusals, one line within the window
    metrics = NodeMetrics()
    metrics.watch_peer_counts(b.peers.refused, b.peers.dropped)
    text = metrics.render().decode()
    count = b.peers.refused["not_allowed"]
    assert f'gridchain_peer_handshakes_refused_total{{reason="not_allowed"}} {float(count)}' in text


async def test_a_peer_on_another_network_gets_no_link(cluster: Cluster) -> None:
    b = await cluster.start("b", network=OTHER_NET)
    a = await cluster.start("a", persistent=("b",))
    await eventually(lambda: b.peers.refused["wrong_network"] >= 1)
    await eventually(lambda: a.peers.refused["wrong_network"] >= 1)
    assert a.peers.connected() == [] and b.peers.connected() == []
    assert a.events == [] and b.events == []


async def test_an_oversized_message_drops_the_link(cluster: Cluster) -> None:
    b = await cluster.start("b", max_message_bytes=1000)
    a = await cluster.start("a", persistent=("b",), max_message_bytes=100_000)
    await eventually(linked(a, b))
    a.peers.send(b.pk, b"fits")
    a.peers.send(b.pk, b"x" * 5000)
    a.peers.send(b.pk, b"after")
    await eventually(lambda: b.peers.dropped["oversized"] == 1)
    await eventually(linked(a, b))  # a dials again
    a.peers.send(b.pk, b"later")
    await eventually(lambda: b.received_from(a)[-1:] == [b"later"])
    assert b.received_from(a) == [b"fits", b"later"]
    assert b.events == [("connect", a.pk), ("disconnect", a.pk), ("connect", a.pk)]


async def test_a_bad_message_drops_the_link(cluster: Cluster) -> None:
    b = await cluster.start("b")
    a = await cluster.start("a", persistent=("b",))
    b.refuse.add(b"bad")
    await eventually(linked(a, b))
    for payload in (b"one", b"bad", b"two"):
        a.peers.send(b.pk, payload)
    await eventually(lambda: b.peers.dropped["bad_message"] == 1)
    assert b.received_from(a) == [b"one"]
    await eventually(linked(a, b))
    assert b.peers.disconnect(a.pk, "found a forged vote later")
    assert b.peers.dropped["bad_message"] == 2
    assert not b.peers.disconnect(a.pk, "already gone")


async def test_a_peer_that_cannot_keep_up_is_dropped(cluster: Cluster) -> None:
    b = await cluster.start("b")
    a = await cluster.start("a", persistent=("b",), max_message_bytes=1000, max_queue_bytes=5000)
    await eventually(linked(a, b))
    sent = 0
    while a.peers.send(b.pk, b"x" * 1000):  # no await: the writer never gets a turn
        sent += 1
    assert sent == 5
    assert a.peers.dropped["too_slow"] == 1
    assert a.peers.connected() == []


async def test_a_restarted_peer_is_dialed_again(cluster: Cluster) -> None:
    b = await cluster.start("b")
    a = await cluster.start("a", persistent=("b",))
    await eventually(linked(a, b))
    await b.peers.stop()
    await eventually(lambda: a.peers.connected() == [])
    assert a.events == [("connect", b.pk), ("disconnect", b.pk)]
    await asyncio.sleep(0.3)  # a's first redials find nobody
    b = await cluster.start("b")  # the same key on the same port, a new manager
    await eventually(linked(a, b))
    a.peers.send(b.pk, b"welcome back")
    await eventually(lambda: b.received_from(a) == [b"welcome back"])


async def test_a_peer_that_is_no_longer_allowed_is_dropped(cluster: Cluster) -> None:
    validators = {dev_key("peer-a").public_key}
    b = await cluster.start("b", allowed=lambda key: key in validators)
    a = await cluster.start("a", persistent=("b",))
    await eventually(linked(a, b))
    validators.clear()
    assert b.peers.drop_disallowed() == [a.pk]
    await eventually(lambda: a.peers.connected() == [] and b.peers.refused["not_allowed"] >= 1)
    assert b.peers.connected() == []


def one_shared_link(a: Member, b: Member) -> bool:
    """One link at each end, and the same one: exactly one end dialed it."""
    if not linked(a, b)():
        return False
    (at_a,), (at_b,) = a.peers.peers(), b.peers.peers()
    return at_a.dialed_by_us != at_b.dialed_by_us


def smaller_key_dialed(a: Member, b: Member) -> bool:
    return a.peers.peers()[0].dialed_by_us == (a.pk < b.pk)


async def test_simultaneous_dials_converge_on_one_link(cluster: Cluster) -> None:
    a = await cluster.start("a")
    b = await cluster.start("b")
    await asyncio.gather(a.peers.dial(b.address), b.peers.dial(a.address))
    await eventually(lambda: one_shared_link(a, b))
    assert smaller_key_dialed(a, b)  # both links were made; both ends kept the same one
    assert a.peers.dropped["duplicate"] + b.peers.dropped["duplicate"] >= 1
    before = (a.peers.peers()[0].connected_for, b.peers.peers()[0].connected_for)
    await asyncio.sleep(0.3)
    assert one_shared_link(a, b) and smaller_key_dialed(a, b)  # it stays: no redial, no swap
    after = (a.peers.peers()[0].connected_for, b.peers.peers()[0].connected_for)
    assert after[0] > before[0] and after[1] > before[1]
    a.peers.send(b.pk, b"ping")
    b.peers.send(a.pk, b"pong")
    await eventually(lambda: b.received_from(a) == [b"ping"] and a.received_from(b) == [b"pong"])
    for m in (a, b):  # callbacks never overlap: connects and disconnects alternate
        kinds = [kind for kind, _ in m.events]
        assert kinds == ["connect", "disconnect"] * (len(kinds) // 2) + ["connect"]


async def test_managers_that_dial_each_other_settle_on_one_link(cluster: Cluster) -> None:
    a, b = await asyncio.gather(
        cluster.start("a", persistent=("b",)), cluster.start("b", persistent=("a",))
    )

    # The other end's dial may still be in its handshake when a first link is up, and then
    # rightly replace it (at most once): settled is one link that stays put for a while.
    def state() -> tuple[bool, int, int]:
        return (a.peers.peers()[0].dialed_by_us, len(a.events), len(b.events))

    deadline = asyncio.get_running_loop().time() + 5
    while True:
        await eventually(lambda: one_shared_link(a, b))
        settled = state()
        await asyncio.sleep(0.5)
        if one_shared_link(a, b) and state() == settled:
            break
        assert asyncio.get_running_loop().time() < deadline, "the links never settled"
    assert settled[1] <= 3 and settled[2] <= 3, "more than one swap"  # connect, swap, connect
    await asyncio.sleep(0.3)
    assert one_shared_link(a, b) and state() == settled


def test_both_ends_agree_which_link_to_keep() -> None:
    class Stub:
        def __init__(self, peer_key: bytes, dialer: bool) -> None:
            self.peer_key, self.dialer = peer_key, dialer

    small, big = sorted([A.public_key, B.public_key])

    def keep(new: Stub, old: Stub, ours: bytes) -> bool:
        return keep_new_link(new, old, ours)  # type: ignore[arg-type]

    # At the small end, its own dial beats the big end's; at the big end, the same.
    assert keep(Stub(big, True), Stub(big, False), small)
    assert not keep(Stub(big, False), Stub(big, True), small)
    assert keep(Stub(small, False), Stub(small, True), big)
    assert not keep(Stub(small, True), Stub(small, False), big)
    # Two links dialed by the same end: the newer one wins at both ends.
    assert keep(Stub(big, True), Stub(big, True), small)
    assert keep(Stub(small, False), Stub(small, False), big)


async def test_stop_leaves_no_tasks_behind(cluster: Cluster) -> None:
    c = await cluster.start("c")
    b = await cluster.start("b", persistent=("c",))
    a = await cluster.start("a", persistent=("b", "c", "nobody"))
    await eventually(linked(a, b, c))
    for m in (a, b, c):
        m.peers.broadcast(b"bye")
    await cluster.stop_all()
    await asyncio.sleep(0)
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert others == []
    assert all(m.peers.connected() == [] for m in (a, b, c))
    assert a.events.count(("disconnect", b.pk)) == 1


async def test_stop_does_not_wait_for_a_stuck_consumer(cluster: Cluster) -> None:
    b = await cluster.start("b", close_timeout=0.2)
    a = await cluster.start("a", persistent=("b",), close_timeout=0.2)
    await eventually(linked(a, b))
    b.hold = asyncio.Event()  # never set
    a.peers.send(b.pk, b"stuck")
    await asyncio.sleep(0.05)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await b.peers.stop()
    assert loop.time() - started < 1.0
    assert b.events == [("connect", a.pk), ("disconnect", a.pk)]
    await a.peers.stop()
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert others == []


async def test_one_address_cannot_hold_every_pending_handshake(cluster: Cluster) -> None:
    """Hellos never followed by their upgrade: one address gets MAX_PENDING_PER_ADDRESS of
    them at once, not the whole node's 32, so others still get through."""
    b = await cluster.start("b", handshake_timeout=30.0)
    url = f"http://127.0.0.1:{b.port}{HELLO_PATH}"
    async with aiohttp.ClientSession() as session:
        for _ in range(MAX_PENDING_PER_ADDRESS):
            async with session.post(url, data=client_hello(NET)[0]) as answer:
                assert answer.status == 200
        async with session.post(url, data=client_hello(NET)[0]) as answer:
            assert answer.status == 503
        assert b.peers.refused["too_many_from_address"] == 1


async def test_nothing_but_a_hello_is_read_before_a_peer_authenticates(cluster: Cluster) -> None:
    """A hello bigger than a hello is refused unread; an upgrade without a handshake's token
    and auth gets a 403 and no websocket; and once authenticated a link takes 2 MiB messages."""
    b = await cluster.start("b")
    async with aiohttp.ClientSession() as session:
        big = b"\xa0" + b"x" * (MAX_HANDSHAKE_MESSAGE + 1)
        async with session.post(f"http://127.0.0.1:{b.port}{HELLO_PATH}", data=big) as answer:
            assert answer.status == 413
        for headers in ({}, {TOKEN_HEADER: "00" * TOKEN_SIZE, AUTH_HEADER: "00" * 64}):
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await session.ws_connect(f"ws://127.0.0.1:{b.port}{P2P_PATH}", headers=headers)
            assert refused.value.status == 403
    assert b.peers.refused["protocol"] == 1 and b.peers.refused["unknown_handshake"] == 1
    a = await cluster.start("a", persistent=("b",))
    await eventually(linked(a, b))
    big_message = bytes(range(256)) * 8192
    a.peers.send(b.pk, big_message)
    await eventually(lambda: b.received_from(a) == [big_message])


async def test_an_idle_or_half_sent_connection_is_closed(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(manager_module, "PEER_KEEPALIVE_SECONDS", 0.5)
    b = await cluster.start("b")
    for payload in (b"", b"GET /p2p HTTP/1.1\r\nHost: x\r\n"):
        reader, writer = await asyncio.open_connection("127.0.0.1", b.port)
        writer.write(payload)
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), 5) == b""  # closed by the node
        writer.close()


async def test_a_silent_peer_times_out_the_dial(cluster: Cluster) -> None:
    """A peer port that takes the connection and never answers: the dial gives up after the
    handshake timeout, counted as such."""

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the dialer gives up and closes

    port = free_port()
    server = await asyncio.start_server(silent, "127.0.0.1", port)
    try:
        a = await cluster.start("a", handshake_timeout=0.3)
        assert not await a.peers.dial(
            PeerAddress(dev_key("peer-b").public_key, f"ws://127.0.0.1:{port}/p2p")
        )
        assert a.peers.refused["timeout"] == 1, a.peers.refused
    finally:
        server.close()
        await server.wait_closed()


def test_a_peers_refusal_names_only_our_own_reasons() -> None:
    """What answers our hello chooses neither our counters' labels nor our log lines, and
    JSON nested too deep for the reader is a refusal like any other."""
    deep = _refusal_of(400, b"[" * 5000)
    assert deep.reason == "rejected"
    forged = json.dumps({"error": {"code": "evil\nINFO forged", "message": "m"}}).encode()
    assert _refusal_of(400, forged).reason == "rejected"
    said = json.dumps({"error": {"code": "wrong_network", "message": "on x\nINFO forged"}})
    refusal = _refusal_of(400, said.encode())
    assert refusal.reason == "wrong_network" and "\n" not in str(refusal)


async def test_a_full_table_of_hellos_makes_room_for_the_newest(cluster: Cluster) -> None:
    """Hellos never followed up cannot keep every other dialer out: with the table full the
    oldest pending handshake gives way."""
    b = await cluster.start("b", handshake_timeout=30.0, max_pending_handshakes=2)
    url = f"http://127.0.0.1:{b.port}{HELLO_PATH}"
    async with aiohttp.ClientSession() as session:
        for _ in range(3):
            async with session.post(url, data=client_hello(NET)[0]) as answer:
                assert answer.status == 200
    assert b.peers.refused["too_many_pending"] == 1
    a = await cluster.start("a", persistent=("b",))
    await eventually(linked(a, b))
