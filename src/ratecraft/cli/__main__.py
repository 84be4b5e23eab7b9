"""``python -m ratecraft.cli``: the same as the ``ratecraft`` command."""

from ratecraft.cli import main

main()
