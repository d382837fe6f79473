"""A W&B workspace view to review runs in: `make dashboard RUN=runs/<name>/<id> | GROUP=<name>`.

    cxr dashboard --run runs/<name>/<id>     one run
    cxr dashboard --group <name> [--runs-dir runs]   every run of an experiment

`spec` describes the view as plain data: sections of panels, each naming the W&B
keys it shows, asked of the modules that log them (never typed here). Between the
training's curves and the saliency job's section, each of the run's evaluators (its
`eval.evaluators`) brings its own sections (`Evaluator.sections`); a default run's:

    Validation curves   val macro AUROC, per-label val AUROC, loss, learning rate,
                        all against the epoch over all phases (`wandb_logging.EPOCH_AXIS`)
    Test AUROC          (classification) the per-label table, macro AUROC, per-label
                        AUROC bars, the AUROC-with-CI and ROC plots
    Grad-CAM gallery    (galleries) the gallery table (boxes, heat mask, kind,
                        threshold), the PNGs
    Localization        (localization) the localization table, pointing-game hit rates
    Saliency            the saliency job's table of the methods side by side (`cxr
                        saliency`), its score and sanity plots, and bars per headline
                        score (label mean), seconds per map and sanity pass of each method

A run's view shows the run and its saliency job on its own test split (the study `cxr
saliency --run ...` makes by default): another W&B run of the group, found by its name
(`wiring.wandb_name`). A group's view shows every run of the group, jobs included.

The spec is always written (`<run>/wandb/workspace.json`, or `<runs>/<name>/workspace.json`
for a group). When you are logged in, it is saved as a W&B workspace view with the
`wandb-workspaces` package (`pip install -e ".[dashboard]"`); otherwise the command
that saves it after `wandb sync` is printed.
"""

import argparse
import json
import pathlib

import wandb

from cxr.errors import UserError, exits_cleanly
from cxr.evaluation import saliency_scores
from cxr.evaluation.evaluators import panel as _panel
from cxr.pipeline import saliency_report, wiring
from cxr.saliency import registry
from cxr.tracking import metric_keys, wandb_logging, writer
from cxr.tracking.rundir import RunDir
from cxr_tfds.labels import LABELS

SPEC = "workspace.json"
SALIENCY_SECTION = "Saliency"  # logged by a run's saliency job, not by the run itself


def spec(*, title, prefix, chosen, run_id=None, jobs=(), group=None, labels=LABELS):
    """The view as plain data.

    Args:
        title: The view's name.
        prefix: The W&B prefix of the test results (`cxr.tracking.writer.split_prefix`).
        chosen: The run's evaluators (`wiring.evaluation_setup`): each brings its sections.
        run_id: Show this run and
        jobs: the W&B runs of these display names (its saliency job); or
        group: show the runs of this group (an experiment's name).
        labels: The label names.

    Returns:
        A JSON-serialisable dict: "title", "filter" ([field, value] pairs, a run shown
        when it matches any: ["ID", run_id] and ["Name", job] pairs, or ["Group", group]),
        "x_axis" and "sections": [{"name", "panels": [{"type", "title", "keys", ...}]}],
        a panel's "type" one of line, bar, scalar, table, media, markdown.
    """

    def test(key):
        return writer.wandb_key(prefix, key)

    curves = [
        _panel("line", "Validation macro AUROC", [metric_keys.MONITOR]),
        _panel(
            "line", "Validation AUROC per label", [metric_keys.val_auroc_key(x) for x in labels]
        ),
        _panel("line", "Training and validation loss", [wandb_logging.LOSS, metric_keys.VAL_LOSS]),
        _panel("line", "Learning rate", [wandb_logging.LEARNING_RATE], log_y=True),
    ]
    shown = [["ID", run_id], *(["Name", job] for job in jobs)] if run_id else [["Group", group]]
    return {
        "title": title,
        "filter": shown,
        "x_axis": wandb_logging.EPOCH_AXIS,
        "sections": [
            {"name": "Validation curves", "panels": curves},
            *(section for evaluator in chosen for section in evaluator.sections(test, labels)),
            {"name": SALIENCY_SECTION, "panels": saliency_panels(test)},
        ],
    }


def saliency_panels(test, methods=None):
    """The Saliency section: the keys `cxr.pipeline.saliency_report` logs.

    Args:
        test: The W&B key of a result's item on the test split.
        methods: The methods the bars show; the baselines are scored beside them.
            None: those `cxr saliency` runs by default (`cxr.saliency.registry`).
    """
    methods = registry.default_names() if methods is None else methods
    scored = (*methods, saliency_scores.CENTRE, saliency_scores.RANDOM)

    def bars(number, title, names):
        return _panel("bar", title, [test(saliency_report.summary_key(m, number)) for m in names])

    return [
        _panel("table", "Methods side by side", [test(saliency_report.GALLERY_KEY)], height=16),
        _panel("media", "Saliency scores, 95% CI", [test(saliency_report.SCORE_PLOT_KEY)]),
        _panel("media", "Sanity: cascading randomisation", [test(saliency_report.SANITY_PLOT_KEY)]),
        *(
            bars(column, f"Saliency {title} (label mean)", scored)
            for column, title in saliency_report.HEADLINE.items()
        ),
        bars(saliency_report.SECONDS_PER_MAP, "Saliency seconds per map", methods),
        bars(saliency_report.SANITY_PASSES, "Saliency sanity check passed (1) or not (0)", methods),
    ]


def keys(the_spec):
    """Every W&B key the view's panels name (the x axis included)."""
    named = {key for s in the_spec["sections"] for p in s["panels"] for key in p["keys"]}
    return named | {the_spec["x_axis"]}


def workspace(the_spec, *, entity, project):
    """The spec as a `wandb_workspaces` Workspace (not saved)."""
    try:
        import wandb_workspaces.reports.v2 as wr
        import wandb_workspaces.workspaces as ws
        from wandb_workspaces import expr
    except ImportError:
        raise UserError(
            "saving the view needs wandb-workspaces: pip install -e '.[dashboard]'"
        ) from None

    x = the_spec["x_axis"]
    shown = [expr.Metric(field) == value for field, value in the_spec["filter"]]
    build = {
        "line": lambda p: wr.LinePlot(title=p["title"], x=x, y=p["keys"], log_y=p.get("log_y")),
        "bar": lambda p: wr.BarPlot(title=p["title"], metrics=p["keys"], orientation="h"),
        "scalar": lambda p: wr.ScalarChart(title=p["title"], metric=p["keys"][0]),
        "table": lambda p: wr.WeavePanelSummaryTable(table_name=p["keys"][0]),
        "media": lambda p: wr.MediaBrowser(title=p["title"], media_keys=p["keys"]),
        "markdown": lambda p: wr.MarkdownPanel(markdown=p["text"]),
    }
    sections = []
    for section in the_spec["sections"]:
        panels = []
        for p in section["panels"]:
            panel = build[p["type"]](p)
            panel.layout = wr.Layout(w=24 if p["type"] == "table" else 8, h=p.get("height", 8))
            panels.append(panel)
        sections.append(ws.Section(name=section["name"], panels=panels, is_open=True))
    return ws.Workspace(
        entity=entity,
        project=project,
        name=the_spec["title"],
        sections=sections,
        settings=ws.WorkspaceSettings(x_axis=x),
        runset_settings=ws.RunsetSettings(filters=expr.Or(*shown) if len(shown) > 1 else shown),
    )


def _newest_run(runs_dir, group):
    """The newest run directory of experiment `group` (run ids start with the time)."""
    found = sorted(p.parent for p in pathlib.Path(runs_dir, group).glob(f"*/{RunDir.CONFIG}"))
    if not found:
        raise UserError(f"no run of {group!r} under {runs_dir}: run `make experiment NAME={group}`")
    return RunDir.open(found[-1])


def dashboard(*, run=None, group=None, runs_dir="runs", entity=None):
    """Writes the view's spec and, when logged in to W&B, saves the view.

    Args:
        run: A run directory (`RunDir`) to review; or
        group: an experiment's name, to review all its runs under `runs_dir`.
        runs_dir: Where experiments keep their runs.
        entity: The W&B entity (user or team); None for the logged-in user's default.

    Returns:
        The path of the spec written.
    """
    newest = run or _newest_run(runs_dir, group)
    config = newest.config()
    prefix = writer.split_prefix(config["data"]["test_split"])
    chosen, _ = wiring.evaluation_setup(config)  # the run's evaluators bring their sections
    project = config.get("wandb", {}).get("project", "cxr")
    if run is not None:
        own = (config["data"]["name"], config["data"]["test_split"])  # `cxr saliency`'s default
        the_spec = spec(
            title=f"cxr review {config['name']}/{run.name}",
            prefix=prefix,
            chosen=chosen,
            run_id=run.name,
            jobs=[wiring.wandb_name(config, run=run, job=wiring.SALIENCY, evaluation=own)],
        )
        path, sync, again = run.wandb_dir / SPEC, run.wandb_dir, f"RUN={run.path}"
    else:
        the_spec = spec(title=f"cxr review {group}", prefix=prefix, chosen=chosen, group=group)
        folder = pathlib.Path(runs_dir, group)
        path, sync, again = folder / SPEC, folder / "*" / RunDir.WANDB, f"GROUP={group}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(the_spec, indent=1) + "\n")
    print(f"W&B view spec: {path}")
    if wandb_logging.resolve_wandb_mode() != "online":
        print(
            "Not logged in to W&B (or WANDB_MODE is set): the view is not saved. After "
            f"`wandb login`, upload the runs and save it with:\n  wandb sync {sync}/offline-run-* "
            f"&& make dashboard {again}"
        )
        return path
    entity = entity or wandb.Api().default_entity
    saved = workspace(the_spec, entity=entity, project=project).save()
    print(f"W&B view saved: {saved.url}")
    return path


@exits_cleanly
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--run", help="runs/<name>/<run id>")
    which.add_argument("--group", help="an experiment's name: all its runs")
    parser.add_argument("--runs-dir", default="runs", help="where --group's runs are")
    parser.add_argument("--entity", help="W&B user or team; default: yours")
    args = parser.parse_args(argv)
    dashboard(
        run=RunDir.open(args.run) if args.run else None,
        group=args.group,
        runs_dir=args.runs_dir,
        entity=args.entity,
    )
