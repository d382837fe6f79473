"""Checking a W&B review view (`cxr.pipeline.dashboard`) against a run's logged items."""

from cxr.pipeline import dashboard


def number(items, key):
    """Whether `key` was logged as a number; NaN (a label without test positives) is null."""
    return key in items and (items[key] is None or isinstance(items[key], float | int))


def the_runs_own(spec):
    """The view without the sections that other W&B jobs of the run log (its saliency job:
    test_saliency_study checks that section against the job's items)."""
    own = [s for s in spec["sections"] if s["name"] != dashboard.SALIENCY_SECTION]
    return {**spec, "sections": own}


def assert_logged(spec, items):
    """Each panel's keys were logged, each as the kind of value its panel shows: curves
    in the history, scalars and bars in the summary, tables and images as such."""
    history, summary = items["history"], items["summary"]
    media = {"table": "table-file", "media": "image-file"}
    for section in spec["sections"]:
        for panel in section["panels"]:
            for key in panel["keys"]:
                if panel["type"] in media:
                    assert history.get(f"{key}._type") == media[panel["type"]], (panel, key)
                elif panel["type"] == "line":
                    assert number(history, key), (panel, key)
                else:
                    assert number(summary, key), (panel, key)
