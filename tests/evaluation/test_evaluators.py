"""Evaluators chosen in the config: the registry, `from_config` and its defaults, and a
new evaluator registered from this file alone and run through the evaluation stage, its
file, W&B items and dashboard section (docs/development.md, "Adding an evaluator")."""

import contextlib
import io
import json
import subprocess
import sys

import numpy as np
import pytest
import wandb

from cxr.configs import common
from cxr.data import datasets
from cxr.errors import UserError
from cxr.evaluation import evaluators, subgroup_report
from cxr.model import classifier
from cxr.pipeline import dashboard, evaluate, wiring
from cxr.tracking import writer
from cxr.tracking.rundir import EvalDir, RunDir
from cxr.tracking.writer import Result
from tests.helpers.wandb_records import items_of, read_wandb_records


# --- The recipe: one class, registered by name, and one config line ---------------------
@evaluators.register("prevalence")
class Prevalence(evaluators.Evaluator):
    """Each label's share of positive images in the split, beside the mean probability."""

    FILE = "prevalence.json"

    def __init__(self, *, digits=3):
        self.digits = digits

    @staticmethod
    def key(label):
        return f"prevalence/{label}"

    def result(self, *, preds, val, eval_dir):
        shares = dict(zip(preds.label_names, preds.labels.mean(axis=0).tolist(), strict=True))
        mean_probs = preds.probs.mean(axis=0).tolist()
        table = {
            name: {"prevalence": share, "mean_probability": prob}
            for (name, share), prob in zip(shares.items(), mean_probs, strict=True)
        }
        return Result(
            files={eval_dir.path / self.FILE: table},
            summary={self.key(name): share for name, share in shares.items()},
            text=f"Prevalence: {', '.join(f'{n} {s:.{self.digits}f}' for n, s in shares.items())}",
        )

    def sections(self, test, labels):
        keys = [test(self.key(x)) for x in labels]
        return [{"name": "Label prevalence", "panels": [evaluators.panel("bar", "Test", keys)]}]


DEFAULTS = evaluators.default_spec(num_bootstrap=30, gallery_per_kind=2)


def settings(evaluator):
    """An evaluator's settings: its attributes before it has seen any predictions."""
    return (type(evaluator), {k: v for k, v in vars(evaluator).items() if k != "cases"})


def test_from_config_of_the_default_spec_is_default():
    chosen = evaluators.from_config(DEFAULTS, seed=7)
    expected = [
        evaluators.Calibration(num_bootstrap=30, seed=7),
        evaluators.Classification(num_bootstrap=30, seed=7),
        evaluators.Galleries(per_kind=2),
        evaluators.Localization(seed=7),
        evaluators.Subgroups(num_bootstrap=30, seed=7),
    ]
    assert [settings(e) for e in chosen] == [settings(e) for e in expected]
    default = evaluators.default(num_bootstrap=30, seed=7, gallery_per_kind=2)
    assert [settings(e) for e in default] == [settings(e) for e in expected]
    assert all(isinstance(e, evaluators.Evaluator) for e in chosen)


def test_the_configs_default_is_the_default_spec_and_follows_the_old_fields():
    config = common.get_config()
    assert config.eval.evaluators.to_dict() == evaluators.default_spec(
        num_bootstrap=config.eval.num_bootstrap, gallery_per_kind=config.eval.gallery_per_kind
    )
    common.smoke(config, 4, 4, 4)  # sets eval.num_bootstrap=50, eval.gallery_per_kind=2
    assert config.eval.to_dict()["evaluators"] == evaluators.default_spec(
        num_bootstrap=50, gallery_per_kind=2
    )


def test_a_run_saved_without_the_field_gets_the_defaults_of_its_old_fields():
    old = {"seed": 7, "eval": {"num_bootstrap": 30, "gallery_per_kind": 2}}
    new = {"seed": 7, "eval": {**old["eval"], "evaluators": DEFAULTS}}
    assert evaluators.spec_of(old["eval"]) == DEFAULTS
    assert [settings(e) for e in wiring.evaluation_setup(old)[0]] == [
        settings(e) for e in wiring.evaluation_setup(new)[0]
    ]


def test_settings_pass_through_and_the_run_seed_fills_in():
    spec = {
        "zz": {"type": "galleries", "per_kind": 5},
        "auroc": {"type": "classification", "num_bootstrap": 9, "seed": 11},
        "localization": {},  # the type defaults to the name
        "path": {"type": "cxr.evaluation.evaluators.localization:Localization", "seed": 4},
        "prevalence": {"digits": 1},
    }
    chosen = evaluators.from_config(spec, seed=3)
    assert [settings(e) for e in chosen] == [  # in the order of the names
        (evaluators.Classification, {"num_bootstrap": 9, "seed": 11}),
        settings(evaluators.Localization(seed=3)),
        settings(evaluators.Localization(seed=4)),
        (Prevalence, {"digits": 1}),
        settings(evaluators.Galleries(per_kind=5)),
    ]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            {"galleries": {"type": "galeries"}},
            # Every evaluator of the package (calibration, subgroups, ...) and Prevalence above.
            "eval.evaluators.galleries: unknown evaluator type 'galeries'; registered: "
            + ", ".join(evaluators.names()),
        ),
        ({"x": {"type": "no.such.module:Thing"}}, "eval.evaluators.x: no module for"),
        ({"g": {"type": "galleries", "per_knd": 3}}, "eval.evaluators.g: "),
        ({"c": {"type": "classification"}}, "num_bootstrap"),  # a missing setting
    ],
)
def test_a_bad_spec_is_one_line_naming_the_entry(spec, expected):
    with pytest.raises(UserError) as error:
        evaluators.from_config(spec, seed=0)
    assert expected in str(error.value) and "\n" not in str(error.value)


def test_a_built_in_name_cannot_be_taken():
    with pytest.raises(ValueError, match="'galleries' is cxr.evaluation.evaluators.galleries's"):
        evaluators.register("galleries")(Prevalence)


def test_cxr_experiment_names_an_unknown_evaluator_before_any_framework_starts():
    command = (
        "import sys\nfrom cxr.cli.main import main\n"
        "try:\n    main(sys.argv[1:])\nexcept SystemExit as end:\n    assert end.code == 2\n"
        "print(sorted({'tensorflow', 'keras', 'jax'} & set(sys.modules)))"
    )
    argv = ["experiment", "finetune:smoke", "--config.eval.evaluators.localization.type=locale"]
    out = subprocess.run(
        [sys.executable, "-c", command, *argv], capture_output=True, text=True, timeout=120
    )
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr[-2000:]
    assert "unknown evaluator type 'locale'; registered: " in lines[0]
    assert "classification, galleries, localization" in lines[0]
    assert out.stdout.strip() == "[]"  # no framework imported, nothing run


def logged_items(run_dir):
    """{"history": key -> last value, "summary": key -> value}, read from the .wandb file."""
    (wandb_file,) = run_dir.glob("**/offline-run-*/run-*.wandb")
    records = read_wandb_records(wandb_file)
    return {
        kind: {k: v for u in items_of(records, kind) for k, v in u.items()}
        for kind in ("history", "summary")
    }


@pytest.fixture(scope="module")
def evaluated(synthetic_builder, tmp_path_factory):
    """A run whose config adds `prevalence` to the defaults, its tiny model evaluated by
    the evaluation stage with an offline W&B run, then its dashboard spec."""
    tmp_path = tmp_path_factory.mktemp("evaluators")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("WANDB_MODE", "offline")
        for var in ("WANDB_DIR", "WANDB_DATA_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR"):
            env.setenv(var, str(tmp_path / var.lower()))
        return _evaluate(synthetic_builder, tmp_path)


def _evaluate(synthetic_builder, tmp_path):
    """`evaluated`'s run, under offline W&B."""
    data = {
        "name": "cxr14_subset/synthetic",
        "test_split": "test[:6]",
        "val_split": "validation[:6]",
    }
    spec = {**evaluators.default_spec(num_bootstrap=10, gallery_per_kind=1), "prevalence": {}}
    config = {"name": "quick", "seed": 0, "data": data, "wandb": {"project": "t"}}
    config["eval"] = {"num_bootstrap": 10, "gallery_per_kind": 1, "evaluators": spec}
    run = RunDir.locate(tmp_path / "runs", "quick", None).create(config)
    size = datasets.image_size(synthetic_builder)
    model = classifier.build_model(backbone="tiny", num_labels=14, image_size=size, weights=None)
    chosen, tta = wiring.evaluation_setup(run.config())
    wandb_run = wiring.start_wandb(run.config(), run=run)
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        preds = evaluate.evaluate(
            model=model,
            builder=synthetic_builder,
            split=data["test_split"],
            val_split=data["val_split"],
            eval_dir=run.evaluation(),
            evaluators=chosen,
            batch_size=4,
            wandb_run=wandb_run,
            tta=tta,
        )
        wandb_run.finish()
        wandb.teardown()
        spec_file = dashboard.dashboard(run=run)
    return dict(
        run=run,
        preds=preds,
        chosen=chosen,
        printed=printed.getvalue(),
        items=logged_items(run.path),
        spec=json.loads(spec_file.read_text()),
    )


def test_a_new_evaluator_runs_through_the_evaluation_stage(evaluated, synthetic_builder):
    run, chosen = evaluated["run"], evaluated["chosen"]
    order = [type(e).__name__ for e in chosen]  # in the order of their names
    assert order.index("Prevalence") == order.index("Localization") + 1
    # Reference: the split's labels as the dataset gives them, averaged by numpy.
    labels = datasets.split_labels(synthetic_builder, "test[:6]")
    names = datasets.label_names(synthetic_builder.info)
    written = json.loads((run.evaluation().path / Prevalence.FILE).read_text())
    assert list(written) == list(names)
    np.testing.assert_allclose([written[n]["prevalence"] for n in names], labels.mean(axis=0))
    probs = evaluated["preds"].probs.mean(axis=0)
    np.testing.assert_allclose([written[n]["mean_probability"] for n in names], probs, rtol=1e-6)
    summary = evaluated["items"]["summary"]
    for name, share in zip(names, labels.mean(axis=0), strict=True):
        assert summary[writer.wandb_key("test", Prevalence.key(name))] == pytest.approx(share)
    assert "Prevalence: Atelectasis " in evaluated["printed"]
    # The defaults ran beside it: their files are there too.
    assert (run.evaluation().path / EvalDir.METRICS).exists()
    assert (run.evaluation().path / EvalDir.LOCALIZATION).exists()
    # The synthetic twin has sex, age and view per image: the subgroup audit ran on them.
    assert "Subgroups (age, sex, view; 19 subgroups x 14 labels)" in evaluated["printed"]
    assert (run.evaluation().path / subgroup_report.JSON_FILE).exists()


def test_a_new_evaluator_brings_its_dashboard_section(evaluated):
    sections = {s["name"]: s["panels"] for s in evaluated["spec"]["sections"]}
    assert list(sections) == [
        "Validation curves",
        "Calibration (15 bins)",
        "Test AUROC",
        "Grad-CAM gallery",
        "Localization",
        "Label prevalence",
        "Subgroups",
        dashboard.SALIENCY_SECTION,
    ]
    (bars,) = sections["Label prevalence"]
    summary = evaluated["items"]["summary"]
    assert bars["type"] == "bar" and len(bars["keys"]) == 14
    assert all(isinstance(summary[key], float) for key in bars["keys"])
