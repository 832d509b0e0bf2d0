"""The `gridchain` command line: one module per command group, registered by main.py."""
