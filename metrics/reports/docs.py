"""docs/metrics.md, generated from the catalog and the default targets (``python -m metrics.reports.docs``)."""

from __future__ import annotations

import sys
from pathlib import Path

from metrics.kpis.catalog import Metric, catalog
from metrics.kpis.compute import STATUSES
from metrics.kpis.formats import format_target
from metrics.kpis.settings import DEFAULT_FILE, load_settings

DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"

_KIND_WORDS = {
    "proportion": "share of rows",
    "ratio": "count over count",
    "quantile": "quantile of a duration",
    "mean": "mean",
    "nps": "promoters minus detractors",
    "count": "count",
    "backlog": "open at period end",
}


def _definition(m: Metric) -> list[str]:
    f = m.fields
    lines = []
    if m.kind in ("proportion", "quantile", "mean", "nps", "count"):
        lines.append(f"- rows: `{f['source']}` where `{f.get('where', 'true')}`, dated by `{f['time']}`")
    if m.kind == "proportion":
        lines.append(f"- numerator: rows where `{f['numerator']}`; denominator: all those rows")
    if m.kind == "quantile":
        lines.append(f"- value: quantile {f['quantile']} of `{f['duration']}` (nearest rank)")
    if m.kind in ("mean", "nps"):
        lines.append(f"- value of each answer: `{f['value']}`")
    if m.kind == "ratio":
        lines.append(
            f"- numerator: rows of `{f['numerator_source']}` where `{f.get('numerator_where', 'true')}`, "
            f"dated by `{f['numerator_time']}`"
        )
        lines.append(
            f"- denominator: `{f.get('denominator_count', 'count(*)')}` of `{f['denominator_source']}` where "
            f"`{f.get('denominator_where', 'true')}`, dated by `{f['denominator_time']}`; "
            f"times {f.get('multiplier', 1)}"
        )
    if m.kind == "backlog":
        lines.append(f"- tickets with created_at before the period end and not resolved by then; `{f['aggregate']}`")
    needs = "; ".join(f"`{needed.name}` (else: {needed.missing})" for needed in m.requires)
    lines.append(f"- requires: {needs}")
    return lines


def render() -> str:
    """The whole document as text."""
    settings = load_settings(DEFAULT_FILE)
    out = [
        "# Metrics",
        "",
        "Generated from `metrics/kpis/catalog.toml` and `metrics/kpis/default_targets.toml`",
        "by `python -m metrics.reports.docs`; a test fails when this file is stale.",
        "Placeholders in braces are conventions, listed below.",
        "",
        "Every result carries a 95% interval, the target that applies and a status. Ratios are counted",
        "at the requested grain (sum over sum), never averaged from finer periods.",
        "",
        "No data is not zero: a record whose required input is in no row of its period and segment",
        '(a blank in an export that fills the column elsewhere counts as "not yet") is `no_data`,',
        "value null and n = 0, with a `reason` naming the column that would give it.",
        "",
        "| metric | label | 中文 | kind | format | better | default target |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for m in catalog().values():
        target = settings.target_for(m.name)
        target_text = format_target(target.bound, target.value, m.format) if target else ""
        out.append(
            f"| `{m.name}` | {m.label} | {m.label_zh} | {_KIND_WORDS[m.kind]} | {m.format} | {m.direction} "
            f"| {target_text} |"
        )
    out += ["", "## Definitions", ""]
    for m in catalog().values():
        description = m.explain(settings.conventions.describe())
        out += [f"### `{m.name}`: {m.label} ({m.label_zh})", "", description, "", *_definition(m), ""]
    out += ["## Conventions (defaults)", "", "| convention | default |", "| --- | --- |"]
    out += [f"| {k} | {v} |" for k, v in settings.conventions.describe().items()]
    out += ["", "## Status", "", "| status | meaning |", "| --- | --- |"]
    out += [f"| `{k}` | {v} |" for k, v in STATUSES.items()]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    if "--check" in sys.argv:
        sys.exit(0 if DOC_PATH.read_text(encoding="utf-8") == render() else 1)
    DOC_PATH.parent.mkdir(exist_ok=True)
    DOC_PATH.write_text(render(), encoding="utf-8")
    print(f"wrote {DOC_PATH}")
