"""Light clients: following the chain from a trusted header (genesis, at first) by checking
finality certificates against validator sets, never replaying blocks."""
