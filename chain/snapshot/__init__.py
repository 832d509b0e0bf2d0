"""State snapshots: the state of one height in chunks, each proven against its state root."""
