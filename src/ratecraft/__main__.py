"""``python -m ratecraft`` (what ``torchrun -m ratecraft fit …`` runs): the command line."""

from ratecraft.cli import app

app(prog_name="ratecraft")
