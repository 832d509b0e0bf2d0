"""The audit monitor: a Certificate-Transparency-style watcher of the chain's audit log.

It keeps the tree heads it saw from each node (heads.py, state.py) and checks every new one for
consistency with everything it kept, across nodes too, so a node showing one log to the monitor
and another to the rest of the network (a split view) is caught (monitor.py). `gridchain audit
monitor` (node/cli/audit.py) runs it.
"""
