"""Row 9 of `make bench`: what each registered backbone costs, so that a user can weigh
accuracy against time.

Per backbone, at 224 px, random weights, with the precision and XLA that `"auto"`
picks on the machine (`cxr.runtime.speed`): forward images/s on in-memory tensors
(batch 32), training images/s (batch 16, all layers trainable), its parameters and its
Grad-CAM grid (the side of the named feature map at 224 px). Two rows each:

- forward against row 1's (the `--backbone` model, float32): how much slower or faster
  than the bench's reference network;
- training against its own forward rate, with the goal 0.30: a training step costs
  about 3 forward passes (forward, and a backward pass of about twice the FLOPs), so a
  step that keeps up with the arithmetic trains at about 1/3 of the forward rate.
"""

from cxr.bench import measure, plan
from cxr.bench.plan import SIZE
from cxr.model import classifier
from cxr.runtime import speed

FORWARD_BATCH = 32
TRAIN_BATCH = 16
TRAIN_GOAL = 0.30  # of the forward rate; the arithmetic says 1/3


def facts(name) -> dict:
    """{"parameters", "gradcam_grid"} of backbone `name`'s classifier at `SIZE` px."""
    model = measure.build(name)
    grid = model.get_layer(classifier.FEATURE_MAP_LAYER).output.shape[1]
    return {"parameters": int(model.count_params()), "gradcam_grid": int(grid)}


def backbone_rows(name, choice, reference, *, repeats):
    """Row 9's two rows of backbone `name`.

    Args:
        name: a registered backbone.
        choice: a `cxr.runtime.speed.Choice` (the settings `"auto"` picks).
        reference: row 1's forward rate at `FORWARD_BATCH` ({median, min, max}).
        repeats: timed repeats per figure.
    """
    settings = f"{choice.precision}, XLA {'on' if choice.xla else 'off'}"
    extra = {"backbone": name, "settings": settings, **facts(name)}
    options = {"jit": choice.xla, "policy": choice.precision, "backbone": name}
    forward = measure.forward_rate(FORWARD_BATCH, repeats=repeats, **options)
    train = measure.train_rate(TRAIN_BATCH, repeats=repeats, **options)
    grid = f"{extra['gradcam_grid']}x{extra['gradcam_grid']}"
    about = f"{extra['parameters'] / 1e6:.1f}M parameters, Grad-CAM {grid}; {settings}"
    return [
        {
            **measure.row(
                f"9. {name} forward (batch {FORWARD_BATCH}, {SIZE} px; {about}) vs row 1",
                forward,
                reference,
            ),
            **extra,
        },
        {
            **measure.row(
                f"9. {name} training (batch {TRAIN_BATCH}) vs its forward "
                f"(a step costs ~3 forward passes: ~0.33)",
                train,
                forward,
                goal=TRAIN_GOAL,
            ),
            **extra,
        },
    ]


def table(rows) -> str:
    """Row 9 as one line per backbone (Markdown): parameters, grid, rates and the ratio."""
    by_name = {}
    for r in rows:
        if r["row"].startswith("9. ") and "backbone" in r:
            by_name.setdefault(r["backbone"], []).append(r)
    if not by_name:
        return ""
    lines = [
        "| backbone | parameters | Grad-CAM grid | forward images/s | training images/s "
        f"| training / forward (goal >= {TRAIN_GOAL}) |",
        "|---|---|---|---|---|---|",
    ]
    for name, (forward, train) in by_name.items():
        met = "met" if train["meets_goal"] else "MISSED"
        lines.append(
            f"| {name} | {forward['parameters']:,} | {forward['gradcam_grid']} "
            f"| {forward['figure']['median']:.3g} | {train['figure']['median']:.3g} "
            f"| {train['ratio']:.2f} ({met}) |"
        )
    return "\n".join(lines)


def run_alone(args, argv, *, header, write):
    """`cxr bench --only backbones`: row 9 of `--backbones`, with the row-1 reference it
    is measured against (`--backbone`'s forward rate, float32), written to `args.out`."""
    sizes = plan.Sizes.at(args.scale)
    choice = speed.choose()
    reference_name = plan.check_backbone(args.backbone)
    with measure.no_warm_ups(sizes.is_check):
        reference = measure.forward_rate(
            FORWARD_BATCH, backbone=reference_name, repeats=sizes.repeats
        )
        rows = [
            row
            for name in plan.row9_backbones(args.backbones)
            for row in backbone_rows(name, choice, reference, repeats=sizes.few_repeats)
        ]
    results = {
        **header,
        "scale": args.scale,
        "settings": {"precision": choice.precision, "xla": choice.xla, "why": choice.why},
        "reference": {"backbone": reference_name, "forward_batch": FORWARD_BATCH, **reference},
        "rows": rows,
    }
    write(results, args.out)
    return results
