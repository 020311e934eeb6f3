"""``python -m seewhy``."""

from seewhy.cli import main

main()
