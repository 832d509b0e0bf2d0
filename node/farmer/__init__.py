"""The farmer: the agent that decides what a farm node proves, its compute work, and plots."""
