"""Consensus in the node: the reactor that drives the BFT state machine, its write-ahead log,
the double-sign-safe signer, and the wiring of all of it with the peer links."""
