"""The node index: registered nodes listed by capability, per country, per map cell (2 x 2
degrees, for circles on the map) and for the world.

State keys are hashes, so the state cannot be scanned by prefix; placement instead draws
positions at random from these lists. Each list is a count and one record per position, with
each member's position kept beside it, so adding is an append and removing moves the last
member into the hole: both touch three records, whatever the list's length. The order inside a
list depends on history, but only through rules every validator ran, so it is the same
everywhere.
"""

from chain.errors import present
from chain.farming.records import FarmNode
from chain.farming.txs import capability_names
from chain.hashing import tagged_hash
from chain.state import Overlay, StateReader

WORLD = ""  # the list of every country's nodes
CELL_MICRO_DEGREES = 2_000_000  # map cells of 2 x 2 degrees (~220 km north-south)
LATITUDE_CELLS = 180_000_000 // CELL_MICRO_DEGREES
LONGITUDE_CELLS = 360_000_000 // CELL_MICRO_DEGREES


def cell_of(latitude: int, longitude: int) -> tuple[int, int]:
    """The map cell of a point in micro-degrees: (row from the south pole, column from -180)."""
    row = min((latitude + 90_000_000) // CELL_MICRO_DEGREES, LATITUDE_CELLS - 1)
    column = ((longitude + 180_000_000) // CELL_MICRO_DEGREES) % LONGITUDE_CELLS
    return row, column


def cell_list(row: int, column: int) -> str:
    """The name of a cell's list, beside the country codes (which never start with '@')."""
    return f"@{row}:{column}"


def _list_id(capability: str, country: str) -> bytes:
    return capability.encode() + b"/" + country.encode()


def count_key(capability: str, country: str) -> bytes:
    return tagged_hash(b"gc/index/count", _list_id(capability, country))


def member_key(capability: str, country: str, position: int) -> bytes:
    return tagged_hash(
        b"gc/index/member", _list_id(capability, country) + position.to_bytes(8, "big")
    )


def position_key(capability: str, country: str, node: int) -> bytes:
    return tagged_hash(
        b"gc/index/position", _list_id(capability, country) + node.to_bytes(8, "big")
    )


def _int(raw: bytes | None) -> int:
    return 0 if raw is None else int.from_bytes(raw, "big")


def list_size(reader: StateReader, capability: str, country: str) -> int:
    return _int(reader.get_state(count_key(capability, country)))


def member(reader: StateReader, capability: str, country: str, position: int) -> int:
    """The node id at `position` (0 <= position < list_size)."""
    raw = reader.get_state(member_key(capability, country, position))
    what = f"position {position} of the node index {capability}/{country or '*'}"
    return int.from_bytes(present(raw, what), "big")


def _add(state: Overlay, capability: str, country: str, node: int) -> None:
    size = list_size(state, capability, country)
    state.set_state(member_key(capability, country, size), node.to_bytes(8, "big"))
    state.set_state(position_key(capability, country, node), size.to_bytes(8, "big"))
    state.set_state(count_key(capability, country), (size + 1).to_bytes(8, "big"))


def _remove(state: Overlay, capability: str, country: str, node: int) -> None:
    size = list_size(state, capability, country)
    where = _int(state.get_state(position_key(capability, country, node)))
    last = member(state, capability, country, size - 1)
    if last != node:
        state.set_state(member_key(capability, country, where), last.to_bytes(8, "big"))
        state.set_state(position_key(capability, country, last), where.to_bytes(8, "big"))
    state.delete_state(member_key(capability, country, size - 1))
    state.delete_state(position_key(capability, country, node))
    state.set_state(count_key(capability, country), (size - 1).to_bytes(8, "big"))


def _lists(node: FarmNode) -> list[tuple[str, str]]:
    cell = cell_list(*cell_of(node.location.latitude, node.location.longitude))
    return [
        (capability, where)
        for capability in capability_names(node.capabilities)
        for where in (node.location.country, cell, WORLD)
    ]


def index_node(state: Overlay, node: FarmNode) -> None:
    for capability, country in _lists(node):
        _add(state, capability, country, node.id)


def unindex_node(state: Overlay, node: FarmNode) -> None:
    for capability, country in _lists(node):
        _remove(state, capability, country, node.id)


def reindex_node(state: Overlay, old: FarmNode, new: FarmNode) -> None:
    """Move a node between lists when its country, place or capabilities change."""
    if _lists(old) != _lists(new):
        unindex_node(state, old)
        index_node(state, new)
