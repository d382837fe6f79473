"""`subgroups`: per-label AUROC by sex, age band, view and sex x age with patient-bootstrap
CIs and each subgroup's gap to the rest, and underdiagnosis as Seyyed-Kalantari et al.
(`cxr.evaluation.subgroups`, rendered by `subgroup_report`). A split without sex, age or
view is skipped with one line."""

from cxr.evaluation import subgroup_report, subgroups
from cxr.evaluation.evaluators import register
from cxr.evaluation.evaluators._base import Evaluator, panel
from cxr.tracking.rundir import EvalDir
from cxr.tracking.writer import Result

HOW_TO_READ = (
    "**Subgroups.** One row per label and subgroup: AUROC with its 95% patient-bootstrap CI, "
    "positive images/patients, and `gap`: the subgroup's AUROC minus the rest of the split's "
    "(unpaired: patients on both sides left out, each side resampled alone). Empty numbers: "
    "too few patients to estimate (the counts say why). Underdiagnosis: the false-positive "
    'rate of "No Finding" (1 - max finding probability) at the validation max-F1 threshold, '
    "as Seyyed-Kalantari et al. 2021; docs/protocols.md says how ours differs."
)


@register("subgroups")
class Subgroups(Evaluator):
    """Subgroup AUROCs, gaps and underdiagnosis, where the split has sex, age or view."""

    def __init__(self, *, num_bootstrap, seed):
        self.num_bootstrap, self.seed = num_bootstrap, seed

    def result(self, *, preds, val, eval_dir: EvalDir) -> Result:
        report = subgroups.report(
            test=preds, val=val, num_bootstrap=self.num_bootstrap, seed=self.seed
        )
        if report is None:
            return Result(
                text=f"Subgroups: skipped: {preds.dataset or 'the dataset'} {preds.split} "
                "has no sex, age or view per image"
            )
        return subgroup_report.render(report, eval_dir.path)

    def sections(self, test, labels):
        """Subgroups: the AUROC and underdiagnosis tables, how to read them, the forest plots."""
        panels = [
            panel(
                "table", "Underdiagnosis / overdiagnosis", [test(subgroup_report.DIAGNOSIS_TABLE)]
            ),  # fmt: skip
            panel("markdown", "How to read it", [], text=HOW_TO_READ),
            panel("table", "AUROC per subgroup", [test(subgroup_report.AUROC_TABLE)], height=16),
            panel(
                "media",
                "Forest plots",
                [test(subgroup_report.plot_key(x)) for x in labels],
                height=12,
            ),  # fmt: skip
        ]
        return [{"name": "Subgroups", "panels": panels}]
