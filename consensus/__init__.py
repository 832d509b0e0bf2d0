"""Consensus: the Tendermint rules as a pure state machine, and (later) proposer election and
evidence. No I/O and no clock: inputs are messages and fired timeouts, outputs are messages to
send, timeouts to set and decisions."""
