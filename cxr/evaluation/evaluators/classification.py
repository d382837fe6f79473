"""`classification`: per-label AUROC with patient-bootstrap CIs, operating points, the
predictions file (`cxr.evaluation.classification`, rendered by `classification_report`)."""

from cxr.evaluation import classification, classification_report
from cxr.evaluation.evaluators import register
from cxr.evaluation.evaluators._base import Evaluator, panel
from cxr.tracking.rundir import EvalDir
from cxr.tracking.writer import Result


@register("classification")
class Classification(Evaluator):
    """Per-label AUROC with patient-bootstrap CIs, operating points, the predictions file."""

    def __init__(self, *, num_bootstrap, seed):
        self.num_bootstrap, self.seed = num_bootstrap, seed

    def result(self, *, preds, val, eval_dir: EvalDir) -> Result:
        the_report = classification.report(
            test_probs=preds.probs,
            test_labels=preds.labels,
            test_patients=preds.patient_id,
            val_probs=val.probs,
            val_labels=val.labels,
            label_names=preds.label_names,
            num_bootstrap=self.num_bootstrap,
            seed=self.seed,
            official_images=preds.official_images,
            test_known=preds.known,
            val_known=val.known,
        )
        the_report.update(dataset=preds.dataset, split=preds.split, val_split=val.split)
        result = classification_report.render(report=the_report, eval_dir=eval_dir)
        result.files[eval_dir.file(EvalDir.PREDICTIONS)] = preds.encoded()
        return result

    def sections(self, test, labels):
        """Test AUROC: the per-label table, macro AUROC, per-label bars, the CI and ROC plots."""
        per_label = [test(classification_report.auroc_key(x)) for x in labels]
        panels = [
            panel("table", "Per-label AUROC", [test(classification_report.TABLE)]),
            panel("scalar", "Test macro AUROC", [test(classification_report.MACRO_AUROC)]),
            panel("bar", "Test AUROC per label", per_label),
            panel("media", "AUROC with 95% CI", [test(classification_report.AUROC_PLOT)]),
            panel("media", "ROC curves", [test(classification_report.ROC_PLOT)]),
        ]
        return [{"name": "Test AUROC", "panels": panels}]
