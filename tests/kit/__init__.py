"""Test helpers shared across the suite, one place for all of them.

- support: real keys, transfers, audit log entries (workload requests), node homes with a
  genesis file, `gridchain node run` processes on loopback, HTTP, a background transaction load.
- chainkit: a one-validator chain over a real LevelDB for contract and ledger tests.
- farmkit: farming on that chain (farmers, plots, the farmer's agent).
- netkit: a devnet of validator processes (start it, send load, wait, compare headers).
- agentkit: what a farm node's agent is told by its node's API (a replica of a web spec), and
  a clock and a `say` a test holds.
- farmnet: a devnet with farm nodes under /tmp, driven by the CLI (workloads, the gateway
  asked by Host header, the farmers' runtimes and logs, a ticker that keeps blocks coming).

Fixtures live in the conftest.py files beside the tests that use them.
"""
