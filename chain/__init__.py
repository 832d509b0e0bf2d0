"""Chain core: canonical encoding, keys, transactions, blocks and state.

This package imports none of gridchain's other packages and does no network I/O.
"""
