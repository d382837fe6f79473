"""The fits and tables of `cxr.bench.scale`: k in time ~ N^k, memory slopes, Markdown."""

import numpy as np

STAGES = ("build", "pipeline", "features", "head", "evaluate")
GOAL_K = 1.05
FEATURES, LABELS = 1024, 14  # pooled DenseNet121 features, labels per image


def fit_exponent(ns, seconds) -> float:
    """k of the least-squares fit log(seconds) = k log(n) + c; NaN with fewer than 2 sizes."""
    ns, seconds = np.asarray(ns, np.float64), np.asarray(seconds, np.float64)
    if len(set(ns.tolist())) < 2:
        return float("nan")
    return float(np.polyfit(np.log(ns), np.log(np.maximum(seconds, 1e-9)), 1)[0])


def fit_slope(ns, values) -> float:
    """The least-squares slope of values against n (e.g. bytes per image); NaN below 2 sizes."""
    ns, values = np.asarray(ns, np.float64), np.asarray(values, np.float64)
    if len(set(ns.tolist())) < 2:
        return float("nan")
    return float(np.polyfit(ns, values, 1)[0])


def expected_bytes(stage, splits) -> float:
    """Bytes the stage holds per image by design: its float32 per-image arrays.

    The feature pass keeps each batch's features and then their concatenation (2 copies
    of train); the head epoch holds train and validation features; the evaluation holds
    scores and labels of test and validation, as float32 and as float64 copies in the
    report (4 arrays), and each image's patient (int64) and id (16 characters of NIH's
    `00000001_000.png`, 4 bytes each). Streaming stages (build, pipeline) hold none.
    """
    row = (FEATURES + LABELS) * 4
    train, val, test = (splits.get(k, 0) for k in ("train", "validation", "test"))
    return {
        "features": 2 * train * row,
        "head": (train + val) * row,
        "evaluate": (test + val) * (LABELS * (4 + 4 + 8 + 8) + 8 + 16 * 4),
    }.get(stage, 0.0)


def summarize(sizes: list[dict], idle_mb: float, stages=STAGES) -> dict:
    """Per stage: seconds, us/image and peak MB per N; k; measured and expected memory slope."""
    ns = [s["n"] for s in sizes]
    summary = {}
    for stage in stages:
        seconds = [s["stages"][stage]["seconds"] for s in sizes]
        peaks = [s["stages"][stage]["peak_mb"] for s in sizes]
        expected = [expected_bytes(stage, s["splits"]) / 2**20 for s in sizes]
        k = fit_exponent(ns, seconds)
        summary[stage] = {
            "seconds": seconds,
            "us_per_image": [1e6 * t / n for t, n in zip(seconds, ns, strict=True)],
            "peak_mb": peaks,
            "peak_over_idle_mb": [p - idle_mb for p in peaks],
            "k": k,
            "meets_goal": None if np.isnan(k) else bool(k <= GOAL_K),
            "memory_bytes_per_image": fit_slope(ns, [p * 2**20 for p in peaks]),
            "expected_bytes_per_image": fit_slope(ns, [e * 2**20 for e in expected]),
        }
    if "evaluate" not in stages:
        return summary
    parts = sorted({p for s in sizes for p in s["stages"]["evaluate"].get("parts", {})})
    summary["evaluate"]["parts"] = {
        part: {
            "seconds": (t := [s["stages"]["evaluate"]["parts"].get(part, 0.0) for s in sizes]),
            "k": fit_exponent(ns, t),
        }
        for part in parts
    }
    return summary


def markdown(results) -> str:
    """The results as Markdown: one table of time, one of memory, one of evaluation parts."""
    sizes, summary = results["sizes"], results["summary"]
    stages = results.get("stages", STAGES)
    largest = {stage: summary[stage]["seconds"][-1] for stage in stages}
    total = sum(largest.values())
    shares = ", ".join(
        f"{stage} {t / total:.0%}" for stage, t in sorted(largest.items(), key=lambda x: -x[1])
    )
    writes = ", ".join(f"N={s['n']:,}: {s['data']['write_seconds']:.1f} s" for s in sizes)
    lines = [
        *_setting(results),
        "",
        *_time_table(sizes, summary, stages),
        "",
        f"Peak memory (MB; idle process with the same imports: {results['idle']['peak_mb']:.0f} MB)",
        "",
        *_memory_table(sizes, summary, stages),
        "",
        f"At N={sizes[-1]['n']:,} the stages take {total:.0f} s: {shares}.",
        f"Writing the data (not a stage): {writes}.",
    ]
    return "\n".join(lines)


def _setting(results) -> list[str]:
    """The machine, the images and the splits of every size."""
    m, sizes = results["machine"], results["sizes"]
    splits = "; ".join(
        f"N={s['n']:,}: "
        + ", ".join(f"{k} {v:,}" for k, v in s["splits"].items())
        + f", {s['data']['boxes']} boxes"
        for s in sizes
    )
    return [
        f"Machine: {m['cpu']}, {m['cores']} cores, GPU: {', '.join(m['gpus']) or 'none'}; "
        f"Keras {m['keras']} ({m['backend']}), TensorFlow {m['tensorflow']}; {m['date']}. "
        f"Images {results['image_size']} px; metadata: {results['metadata']}; "
        f"total {results['total_seconds'] / 60:.1f} min.",
        "",
        f"Splits: {splits}",
    ]


def _head_and_rule(sizes, first, last) -> list[str]:
    """A table's header row, between the `first` and the `last` columns, and its rule."""
    head = " | ".join(f"N={s['n']:,}" for s in sizes)
    return [f"| {first} | {head} | {last} |", "|---" * (len(sizes) + 3) + "|"]


def _time_table(sizes, summary, stages) -> list[str]:
    """Seconds (and us per image) per stage and size, k, and the goal's verdict."""
    lines = _head_and_rule(
        sizes, "stage (seconds, us/image)", f"k (time ~ N^k) | goal k <= {GOAL_K}"
    )
    for stage in stages:
        row = summary[stage]
        cells = " | ".join(
            f"{t:.1f} s ({u:.0f} us)"
            for t, u in zip(row["seconds"], row["us_per_image"], strict=True)
        )
        verdict = "" if row["meets_goal"] is None else ("met" if row["meets_goal"] else "MISSED")
        lines.append(f"| {stage} | {cells} | {row['k']:.2f} | {verdict} |")
    for part, row in summary.get("evaluate", {}).get("parts", {}).items():
        cells = " | ".join(f"{t:.1f} s" for t in row["seconds"])
        lines.append(f"| evaluate: {part} | {cells} | {row['k']:.2f} | |")
    return lines


def _memory_table(sizes, summary, stages) -> list[str]:
    """Peak MB per stage and size, the measured growth and the expected one."""
    lines = _head_and_rule(
        sizes,
        "stage (peak MB)",
        "growth (bytes/image) | expected from per-image arrays",
    )
    for stage in stages:
        row = summary[stage]
        cells = " | ".join(f"{p:.0f}" for p in row["peak_mb"])
        lines.append(
            f"| {stage} | {cells} | {row['memory_bytes_per_image']:.0f} "
            f"| {row['expected_bytes_per_image']:.0f} |"
        )
    return lines
