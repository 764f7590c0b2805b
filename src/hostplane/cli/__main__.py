"""`python -m hostplane.cli`: the `hostplane` command without its console script (e.g. from a checkout's src)."""

from hostplane.cli import main

main()
