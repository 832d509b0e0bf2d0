"""Consensus in the node: the reactor that drives the BFT state machine, the roles beside it
(peer gossip, transaction gossip, block sync, evidence, our own messages, pace, replay), its
write-ahead log, the double-sign-safe signer, and the wiring of all of it with the peer links."""
