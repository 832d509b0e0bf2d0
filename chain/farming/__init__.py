"""Farming: farm and node transactions and records, proofs of space and compute, heartbeats,
and each epoch's rewards."""
