"""The perturbation harness: `gridchain devnet chaos`.

A devnet of validators (each in a network namespace of its own) and farmers running workloads,
a steady load of transfers, and faults chosen from a seed: kill -9, pause, restart, several
nodes at once, partitions, flapping links, a full disk, a skewed clock, farm nodes dying. The
invariants are checked while it runs and once everything is healed.

fabric.py   the namespaces, the bridge and the cuts
cluster.py  the processes: start, kill, pause, restart; the full disk; the skewed clock
faults.py   the faults, and the schedule a seed makes of them
load.py     the customers: transfers in flight, each one's outcome
checks.py   the invariants, each one a checker fed what the harness observes
harness.py  the run: the threads, the schedule, the final checks and the report
"""
