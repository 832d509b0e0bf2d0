"""On-chain governance: the council's proposals, their approval and execution, and the
software upgrades they plan."""
