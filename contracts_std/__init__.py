"""The standard IT contract (workload), its clients' helpers and the spec schema.

The contracts are source files of the contract language in this package; standard.py compiles
them for genesis.
"""
