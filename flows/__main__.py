"""`python -m flows` runs the shoppulse command line."""

from flows.cli import main

main()
