"""Allows `python -m spool`."""

from spool.cli import main

if __name__ == "__main__":
    main()
