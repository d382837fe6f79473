"""`cxr bench`'s command line, the one parser both the `cxr` command and `cxr.bench.rows`
read (pure: argparse and the backbone registry's names, no framework).

`cxr.cli.arguments` reads the command line before TensorFlow starts and
`cxr.bench.rows.main` reads it again; both build it here, so the two cannot differ.
"""

import argparse
import os

from cxr.model import backbones

DESCRIPTION = "`make bench`: where time goes, measured side by side in one run."


def parser(prog: str | None = "cxr bench") -> argparse.ArgumentParser:
    """The parser of `cxr bench` (`make bench ARGS=...`)."""
    p = argparse.ArgumentParser(prog=prog, description=DESCRIPTION)
    p.add_argument(
        "--scale",
        type=float,
        default=1,
        help="multiplies the data sizes and steps (GPU: 8; below 1, e.g. 0.01, one repeat "
        "of every row in seconds: a check that every row runs, not a measurement)",
    )
    p.add_argument(
        "--sample_dir",
        default=os.environ.get("CXR14_SAMPLE_DIR", "../shared/cxr14"),
        help="real NIH files for rows 5 and 7; skipped when absent",
    )
    p.add_argument(
        "--out",
        help="default bench/results.json; with --only X, bench/<saliency|backbones|profile>.json "
        "or bench/results_gpu.json",
    )
    p.add_argument(
        "--only",
        choices=["saliency", "backbones", "profile", "gpu"],
        help="row 8, or row 9 (with its row-1 reference), alone in its own file; profile: "
        "the short ratios (rows 2, 4, 5) broken into their causes, to bench/profile.json; "
        "gpu: every row that uses an accelerator (1-4, 6, 8, 9), to bench/results_gpu.json",
    )
    p.add_argument(
        "--epoch_row", action="store_true", help="measure row 6 (GPU epoch) without a GPU too"
    )
    p.add_argument(
        "--backbone",
        default=backbones.DEFAULT,
        help=f"the network of rows 1-4, 6 and 8 (default {backbones.DEFAULT}); "
        "see `--backbones` for the per-backbone rows",
    )
    p.add_argument(
        "--backbones",
        help="row 9's backbones, commas (default: every registered one but tiny; 'none': no row 9)",
    )
    p.add_argument(
        "--epoch_backbones",
        help="row 6's backbones, commas, or 'all' (every registered one but tiny); "
        "default: --backbone's",
    )
    p.add_argument(
        "--compare",
        nargs=2,
        metavar=("OLD", "NEW"),
        help="measure nothing: print the ratio NEW/OLD of every row of two results files",
    )
    return p
