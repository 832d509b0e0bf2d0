"""Node liveness as chain state: a node with no heartbeat for node_down_blocks is down.

Every validator must mark a node down at the same height without scanning every node each
block, so each heartbeat puts the node on the watch list of the height it would be down at
(its height + node_down_blocks + 1), with the heartbeat's height. At the start of a block,
begin_liveness reads the list of that height: an entry whose node has sent a heartbeat since
is stale (the newer heartbeat made its own entry) and is dropped; a node still last seen at
the entry's height is marked down, the down record holding the height it was marked and its
last heartbeat's. A heartbeat from a down node brings it back up. A list is a count and one
record per entry, so a heartbeat costs two writes however many nodes share its height.

A change of node_down_blocks applies from each node's next heartbeat on (an entry due before
the new limit is put back at it; one due after the new limit waits for its height).
"""

from dataclasses import dataclass

from chain.encoding import decode_stored, encode, expect_fixed_list, expect_int, stored_record
from chain.env import BlockEnv
from chain.errors import present
from chain.farming.records import last_seen_key, last_seen_record, read_last_seen
from chain.farming.txs import MAX_ID
from chain.hashing import tagged_hash
from chain.state import MAX_HEIGHT, Overlay, StateReader

DOWN_COUNT_KEY = tagged_hash(b"gc/live/downcount", b"")


@dataclass(frozen=True)
class Down:
    """A node marked down: at height `since`, its last heartbeat at height `last_seen`."""

    node: int
    since: int
    last_seen: int


def watch_count_key(height: int) -> bytes:
    return tagged_hash(b"gc/live/count", height.to_bytes(8, "big"))


def watch_entry_key(height: int, index: int) -> bytes:
    return tagged_hash(b"gc/live/entry", height.to_bytes(8, "big") + index.to_bytes(4, "big"))


def down_key(node: int) -> bytes:
    return tagged_hash(b"gc/live/down", node.to_bytes(8, "big"))


@stored_record("watch entry")
def decode_entry(data: bytes) -> tuple[int, int]:
    node, seen = expect_fixed_list(decode_stored(data), "watch entry", 2)
    return expect_int(node, "watched node", 1, MAX_ID), expect_int(seen, "seen at", 0, MAX_HEIGHT)


@stored_record("down record")
def decode_down(data: bytes) -> tuple[int, int]:
    since, seen = expect_fixed_list(decode_stored(data), "down record", 2)
    return expect_int(since, "down since", 0, MAX_HEIGHT), expect_int(
        seen, "last seen", 0, MAX_HEIGHT
    )


def _count(reader: StateReader, key: bytes) -> int:
    raw = reader.get_state(key)
    return 0 if raw is None else int.from_bytes(raw, "big")


def read_down(reader: StateReader, node: int) -> Down | None:
    raw = reader.get_state(down_key(node))
    if raw is None:
        return None
    since, seen = decode_down(raw)
    return Down(node, since, seen)


def nodes_down(reader: StateReader) -> int:
    return _count(reader, DOWN_COUNT_KEY)


def watch(state: Overlay, due: int, node: int, seen: int) -> None:
    """Look at `node` again at height `due`, when it was last seen at `seen`."""
    count = _count(state, watch_count_key(due))
    state.set_state(watch_entry_key(due, count), encode([node, seen]))
    state.set_state(watch_count_key(due), (count + 1).to_bytes(4, "big"))


def seen_alive(env: BlockEnv, state: Overlay, node: int) -> None:
    """A heartbeat from `node` in this block: it is seen now (up), and down unless it is
    heard again within node_down_blocks."""
    state.set_state(last_seen_key(node), last_seen_record(env.height))
    clear_down(state, node)
    watch(state, env.height + env.params.node_down_blocks + 1, node, env.height)


def clear_down(state: Overlay, node: int) -> None:
    if read_down(state, node) is not None:
        state.delete_state(down_key(node))
        state.set_state(DOWN_COUNT_KEY, (nodes_down(state) - 1).to_bytes(4, "big"))


def begin_liveness(env: BlockEnv, state: Overlay) -> tuple[Down, ...]:
    """Mark down every node due at this height that has not been heard from since; the
    nodes marked, in the order they were watched."""
    height = env.height
    count = _count(state, watch_count_key(height))
    marked: list[Down] = []
    for index in range(count):
        node, seen = decode_entry(_entry(state, height, index))
        state.delete_state(watch_entry_key(height, index))
        if read_last_seen(state, node) != seen or read_down(state, node) is not None:
            continue  # heard since (a newer entry watches it), removed, or already down
        limit = seen + env.params.node_down_blocks + 1
        if limit > height:
            watch(state, limit, node, seen)  # node_down_blocks grew since it was watched
            continue
        down = Down(node, height, seen)
        state.set_state(down_key(node), encode([down.since, down.last_seen]))
        state.set_state(DOWN_COUNT_KEY, (nodes_down(state) + 1).to_bytes(4, "big"))
        marked.append(down)
    if count:
        state.delete_state(watch_count_key(height))
    return tuple(marked)


def _entry(state: Overlay, height: int, index: int) -> bytes:
    raw = state.get_state(watch_entry_key(height, index))
    return present(raw, f"watch entry {index} of height {height}")


def down_to_json(down: Down | None) -> dict[str, int] | None:
    if down is None:
        return None
    return {"since": down.since, "last_seen": down.last_seen}
