"""`python -m engine ...`: the same as the `refine-engine` console script."""

from .cli import run

run()
