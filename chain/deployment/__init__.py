"""Deployment: the chain places authorized workloads on farm nodes, keeps what each node has
reserved, and records what the nodes' agents report (docs/deployment.md)."""
