"""`cxr export`'s command line, read before any framework starts (pure: argparse only).

`cxr.cli.arguments` checks it before the frameworks start, and `cxr.inference.export`
reads it again: one parser, so the two cannot drift apart.
"""

import argparse

DESCRIPTION = (
    "A run's model as a bundle a colleague can use without cxr: the model without its "
    "optimizer state (preprocessing inside), its labels, operating points and temperatures, "
    "a usage example that needs only Keras and numpy, and a model card."
)


def parser() -> argparse.ArgumentParser:
    """`cxr export RUN --out DIR [--evaluation DIR] [--wandb MODE]`."""
    p = argparse.ArgumentParser(prog="cxr export", description=DESCRIPTION)
    p.add_argument("run", help="runs/<name>/<run id> of a finished run")
    p.add_argument("--out", required=True, help="a new (or empty) folder for the bundle")
    p.add_argument(
        "--evaluation",
        help="the evaluation folder the card reports (default: the run's own, <run>/eval)",
    )
    p.add_argument(
        "--wandb",
        choices=("online", "offline", "disabled"),
        help="log the bundle as an artifact of the run's W&B run (default: as the run did)",
    )
    return p
