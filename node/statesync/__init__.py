"""State sync: snapshots of the state this node makes and serves, and joining from a peer's."""
