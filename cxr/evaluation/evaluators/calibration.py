"""`calibration`: ECE (equal-width and equal-mass bins), maximum calibration error and the
Brier score per label and macro, with patient-bootstrap CIs, before and after temperature
scaling fitted on the validation split; the temperatures for `cxr predict --calibrated`
and a reliability diagram per label (`cxr.evaluation.calibration_report`)."""

from cxr.evaluation import calibration_report
from cxr.evaluation.evaluators import register
from cxr.evaluation.evaluators._base import Evaluator, panel
from cxr.stats import calibration
from cxr.tracking.rundir import EvalDir
from cxr.tracking.writer import Result


@register("calibration")
class Calibration(Evaluator):
    """How far the probabilities mean what they say, raw and temperature-scaled."""

    def __init__(self, *, num_bootstrap, seed, bins=calibration.BINS):
        self.num_bootstrap, self.seed, self.bins = num_bootstrap, seed, bins

    def result(self, *, preds, val, eval_dir: EvalDir) -> Result:
        document, temperatures = calibration_report.measure(
            preds=preds, val=val, num_bootstrap=self.num_bootstrap, seed=self.seed, bins=self.bins
        )
        return calibration_report.render(document, temperatures, eval_dir=eval_dir)

    def sections(self, test, labels):
        """Calibration: the per-label table, macro ECE before and after, ECE per label, the
        temperatures, each label's reliability diagram."""
        stages = calibration_report.STAGES
        macro = [test(calibration_report.macro_key(m, s)) for m in ("ece", "adaptive_ece") for s in stages]  # fmt: skip
        panels = [
            panel("table", "Calibration per label", [test(calibration_report.TABLE)]),
            panel("scalar", "Test macro ECE, before and after temperature scaling", macro),
            *(
                panel(
                    "bar",
                    f"Test ECE per label, {stage} temperature scaling",
                    [test(calibration_report.label_key("ece", stage, x)) for x in labels],
                )
                for stage in stages
            ),
            panel(
                "bar",
                "Temperature per label",
                [test(calibration_report.temperature_key(x)) for x in labels],
            ),  # fmt: skip
            *(
                panel("media", f"Reliability: {x}", [test(calibration_report.diagram_key(x))])
                for x in labels
            ),
        ]
        return [{"name": f"Calibration ({self.bins} bins)", "panels": panels}]
