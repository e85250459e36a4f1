"""The README's backtest tables from ``csat-radar backtest --seeds ... --calm-seeds ... --json`` (stdin).

    .venv/bin/csat-radar backtest --seeds 5,11,23,31,41,53,61,67 --calm-seeds 3,7,13,19 --json \
        | .venv/bin/python tools/backtest_table.py

Prints markdown: one row per grain and crisis kind, then one row per grain for false alarms.
"""

from __future__ import annotations

import json
import sys


def days(value: float | None) -> str:
    return "–" if value is None else f"{value:g} days"


def share(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def main() -> None:
    report = json.load(sys.stdin)
    calm = [r for name, r in report["histories"].items() if name.endswith("no crises")]
    print(
        "| grain | crisis kind | found | median delay (first sign) | median delay (a crisis) | placed where labelled |"
    )
    print("| --- | --- | --- | --- | --- | --- |")
    for grain in ("week", "day"):
        pooled = report[grain]
        for kind, k in pooled["by_kind"].items():
            found = f"{k['detected']}/{k['injected']} ({k['recall']:.0%})"
            crisis = k.get("median_confirmed_delay_days")
            crisis_text = days(crisis) if crisis is not None else days(k["median_delay_days"])
            print(f"| {grain} | {kind.replace('_', ' ')} | {found} | {days(k['median_delay_days'])} "
                  f"| {crisis_text} | {share(k['placed_right'])} |")  # fmt: skip
        found = f"{pooled['detected']}/{pooled['injected']} ({pooled['detection_rate']:.0%})"
        print(f"| {grain} | **all** | {found} | {days(pooled['median_delay_days'])} | | "
              f"types right {share(pooled['type_accuracy'])} |")  # fmt: skip
    print()
    print(
        "| grain | false alarms (all histories) | per segment and quarter | of them crises | most crises in one "
        "segment and quarter | most false alarms in one segment and quarter | on calm histories | goals not met |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for grain in ("week", "day"):
        pooled = report[grain]
        rate = pooled["false_alarms"] / pooled["segment_quarters"] if pooled["segment_quarters"] else 0.0
        on_calm = sum(r[grain]["false_alarms"] for r in calm)
        missed = [goal for goal, met in pooled["goals_met"].items() if not met]
        print(f"| {grain} | {pooled['false_alarms']} | {rate:.3f} | {pooled['false_crises']} "
              f"| {pooled['max_false_crises_per_segment_quarter']} | {pooled['max_false_alarms_per_segment_quarter']} "
              f"| {on_calm} | {', '.join(missed) or 'none'} |")  # fmt: skip


if __name__ == "__main__":
    main()
