"""`python -m node ...` runs the `gridchain` command line (the devnet starts nodes this way)."""

from node.cli.main import main

if __name__ == "__main__":  # worker processes may import this module: run nothing then
    main()
