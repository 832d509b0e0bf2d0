"""The standard IT contracts (workload, billing), their clients' helpers and the spec schema.

The contracts are source files of the contract language in this package; standard.py compiles
them for genesis.
"""
