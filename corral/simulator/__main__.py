"""``python -m corral.simulator``: the simulate command, standalone."""

from .cli import simulate

if __name__ == "__main__":
    simulate(prog_name="python -m corral.simulator")
