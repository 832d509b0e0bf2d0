"""Staking: the validator set weighted by blockstake, slashing, jailing and unjailing."""
