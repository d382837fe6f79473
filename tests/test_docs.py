"""What the README promises a newcomer: the quickstart's expected result, with its source.

A figure in docs/ comes from a committed results file; these tests hold the quickstart's
figures to theirs, and the README's pointer to them (issue 23 item 10).
"""

import json
import re

from tests.helpers.paths import ROOT

RESULTS = ROOT / "docs" / "results.md"


def anchors(markdown: str) -> set[str]:
    """GitHub's anchors of a Markdown file's headings."""
    headings = re.findall(r"^#+ (.+)$", markdown, flags=re.M)
    return {re.sub(r"[^\w\- ]", "", h).strip().lower().replace(" ", "-") for h in headings}


def test_the_readme_says_what_the_quickstart_gives_and_why_digits_differ():
    readme = (ROOT / "README.md").read_text()
    line = readme[readme.index("What to expect:") :].split("\n\n")[0]
    assert "last digits differ" in line and "float32" in line
    links = re.findall(r"\(docs/results\.md#([\w-]+)\)", line)
    assert links and set(links) <= anchors(RESULTS.read_text())


def test_the_quickstart_figures_are_their_results_files():
    text = RESULTS.read_text()
    for folder, heading in (("quickstart", "## quickstart"), ("quickstart_xeon", "Intel Xeon")):
        section = text[text.index(heading) :]
        metrics = json.loads((ROOT / "docs/results" / folder / "eval_metrics.json").read_text())
        macro = metrics["macro"]
        quoted = f"{macro['auroc']:.3f} [95% CI {macro['ci_low']:.3f}, {macro['ci_high']:.3f}]"
        assert quoted in section, (folder, quoted)


def test_the_registry_change_left_the_quickstart_byte_for_byte():
    provenance = json.loads((ROOT / "docs/results/quickstart_xeon/provenance.json").read_text())
    before, after = provenance["runs"]
    assert before["eval_metrics_sha256"] == after["eval_metrics_sha256"]
