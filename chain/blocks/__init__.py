"""Blocks: headers, votes and commits, evidence of equivocation, and the block itself.

header <- commit <- votes <- evidence <- block: each module imports only those before it."""
