"""`python -m node ...` runs the `gridchain` command line (the devnet starts nodes this way)."""

from node.cli import main

main()
