"""The Overview's "what changed" paragraph, written from the numbers in the view's language.

Three things a manager asks on Monday morning, in this order: which targets changed sides between
the last two complete weeks, the biggest change that is more than noise and the segment it sits in,
and which crises are open. Only whole weeks are compared: a week cut short by the dates or the data
would read as a drop.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import duckdb
import polars as pl

from metrics.crises.model import SEVERITIES
from metrics.kpis.catalog import FILTER_DIMENSIONS, metric
from metrics.kpis.compute import Query, compute, with_changes
from metrics.kpis.dimensions import segments_that_exist
from metrics.kpis.formats import format_change, format_period, format_target, format_value
from metrics.kpis.messages import say
from metrics.kpis.periods import coverage
from metrics.kpis.scope import View
from metrics.kpis.settings import Settings, on_data_clock
from metrics.views.crisis_lists import open_crisis_list

# The paragraph's sentences; the numbers and names in braces come from the data.
WORDS = {
    "en": {
        "no_week": "No whole week lies within the chosen dates, so no week-on-week change is told.",
        "week": "In the week of {week}:",
        "meets": "{label} now meets its target {target} ({value}, was {before})",
        "misses": "{label} now misses its target {target} ({value}, was {before})",
        "no_crossing": "no target changed sides",
        "biggest": "The biggest change beyond noise: {label} {verb} {change} to {value} ({judgement})",
        "where": ", most in {where} ({change})",
        "spread": ", spread across segments",
        "no_change": "No KPI changed beyond noise.",
        "rose": "rose",
        "fell": "fell",
        "better": "better",
        "worse": "worse",
        "no_crisis": "No crisis is open.",
        "crises": "Open crises: {counts}; the most severe is a {type} in {label} at {where}, since {since}.",
        "count": "{n} {severity}",
        "sep": ", ",
        "end": ".",
        "space": " ",
    },
    "zh": {
        "no_week": "所选日期内没有完整的一周，因此不比较周环比变化。",
        "week": "{week} 这一周：",
        "meets": "{label}现已达到目标 {target}（{value}，上周 {before}）",
        "misses": "{label}现未达到目标 {target}（{value}，上周 {before}）",
        "no_crossing": "没有指标越过目标线",
        "biggest": "超出噪声的最大变化：{label}{verb} {change}，至 {value}（{judgement}）",
        "where": "，主要在 {where}（{change}）",
        "spread": "，分布在各细分中",
        "no_change": "没有指标的变化超出噪声。",
        "rose": "上升",
        "fell": "下降",
        "better": "向好",
        "worse": "变差",
        "no_crisis": "当前没有未关闭的危机。",
        "crises": "未关闭的危机：{counts}；最严重的是 {where} 的{label}{type}，始于 {since}。",
        "count": "{severity} {n} 个",
        "sep": "，",
        "end": "。",
        "space": "",
    },
}
# The crisis types' names of DOMAIN.md (chapter 1), in Chinese as it gives them.
TYPE_WORDS = {
    "zh": {
        "service_quality": "服务质量危机",
        "communication_failure": "沟通失误危机",
        "sudden_event": "突发事件危机",
        "customer_satisfaction": "客户满意度危机",
    },
}
SEVERITY_WORDS = {
    "en": {s: s for s in SEVERITIES},
    "zh": {"critical": "严重", "major": "重大", "minor": "轻微", "observe": "观察"},
}


@dataclass(frozen=True)
class WhatChanged:
    """The paragraph and the facts it tells, so a test can check the words against the numbers."""

    text: str
    week: object | None  # the latest complete week's first day (a date), None when no week is whole
    crossed: pl.DataFrame  # metric, value, previous_value, now_meets: targets that changed sides
    biggest: dict | None  # metric, change, value, p (None without a p-value), dimension, segment, segment_change


def what_changed(
    con: duckdb.DuckDBPyConnection, settings: Settings, view: View, metrics: tuple[str, ...]
) -> WhatChanged:
    """The paragraph for ``metrics`` (the Overview's headline KPIs) over the view's dates and segments."""
    words = WORDS.get(view.language, WORDS["en"])
    settings = on_data_clock(con, settings)
    week = coverage(con, settings, view.date_from, view.date_to).latest_complete("week")
    crises = _crises_sentence(con, settings, view, words)
    empty = pl.DataFrame(schema={"metric": pl.String, "value": pl.Float64, "previous_value": pl.Float64})
    if week is None:
        return WhatChanged(words["space"].join((words["no_week"], crises)), None, empty, None)
    first = week - timedelta(weeks=1)
    if view.date_from is not None:
        first = max(first, view.date_from)
    latest = _latest_changes(con, settings, Query(metrics, "week", None, first, view.date_to, view.segments), week)
    crossed = crossed_targets(latest, settings)
    biggest = _biggest(con, settings, view, latest, first, week)
    if crossed.is_empty():
        crossings = words["no_crossing"]
    else:
        crossings = words["sep"].join(
            words["meets" if row["now_meets"] else "misses"].format(
                label=view.label(row["metric"]),
                target=_target_text(settings, row["metric"]),
                value=format_value(row["value"], metric(row["metric"]).format),
                before=format_value(row["previous_value"], metric(row["metric"]).format),
            )
            for row in crossed.iter_rows(named=True)
        )
    opening = f"{words['week'].format(week=format_period(week))}{words['space']}{crossings}{words['end']}"
    paragraph = words["space"].join((opening, _biggest_sentence(biggest, view, words), crises))
    return WhatChanged(paragraph, week, crossed.drop("now_meets"), biggest)


def _latest_changes(con, settings: Settings, query: Query, week) -> pl.DataFrame:
    """Each series' latest complete week with its change on the week before (null when that one was not whole)."""
    results = with_changes(compute(con, query, settings))
    return results.filter((pl.col("period_start") == week) & pl.col("complete"))


def crossed_targets(latest: pl.DataFrame, settings: Settings) -> pl.DataFrame:
    """The overall series whose value and the previous complete week's lie on either side of their target."""
    targets = pl.DataFrame(
        [{"metric": x.metric, "bound": x.bound, "target": x.value} for x in settings.targets if x.dimension is None],
        schema={"metric": pl.String, "bound": pl.String, "target": pl.Float64},
    )
    meets = {
        column: pl.when(pl.col("bound") == "min")
        .then(pl.col(column) >= pl.col("target"))
        .otherwise(pl.col(column) <= pl.col("target"))
        for column in ("value", "previous_value")
    }
    return (
        latest.filter(pl.col("change").is_not_null() & pl.col("value").is_not_null())
        .join(targets, on="metric")
        .with_columns(meets["value"].alias("now_meets"), meets["previous_value"].alias("before_met"))
        .filter(pl.col("now_meets") != pl.col("before_met"))
        .sort("metric")
        .select("metric", "value", "previous_value", "now_meets")
    )


def _biggest(con, settings: Settings, view: View, latest: pl.DataFrame, first, week) -> dict | None:
    """The significant change with the strongest evidence (smallest p-value; interval-judged ones after),
    and the segment where it concentrates most (a significant change beyond its fair part)."""
    significant = latest.filter(pl.col("change_significant").fill_null(False))
    if significant.is_empty():
        return None
    top = significant.sort(["change_p_value", "metric"], nulls_last=True).row(0, named=True)
    found = {
        "metric": top["metric"],
        "change": top["change"],
        "value": top["value"],
        "p": top["change_p_value"],
        "dimension": None,
        "segment": None,
        "segment_change": None,
    }
    # Where it sits: the segment whose change exceeds its fair part the most. A segment holding a share s of the
    # records would, were the change spread evenly, move a count by s times the total and a rate by the total
    # itself; the excess (weighed by s for a rate) singles out where it concentrates, neither a small channel's
    # wild swing nor the tier holding nine records in ten that merely mirrors the whole.
    overall = top["change"]
    share = pl.col("n") / pl.col("n").sum()
    if metric(top["metric"]).kind == "count":
        excess = pl.col("change") - share * overall
    else:
        excess = share * (pl.col("change") - overall)
    parts = []
    for dimension in FILTER_DIMENSIONS:
        query = Query((top["metric"],), "week", dimension, first, view.date_to, view.segments)
        split = segments_that_exist(_latest_changes(con, settings, query, week), "n")
        parts.append(
            split.select(
                pl.lit(dimension).alias("dimension"),
                "segment",
                "change",
                "change_significant",
                (excess * (1 if overall > 0 else -1)).alias("excess"),
            )
        )
    same_way = (
        pl.concat(parts)
        .filter(pl.col("change_significant").fill_null(False) & (pl.col("excess") > 0))
        .sort(["excess", "dimension", "segment"], descending=[True, False, False])
    )
    if not same_way.is_empty():
        row = same_way.row(0, named=True)
        found.update(dimension=row["dimension"], segment=row["segment"], segment_change=row["change"])
    return found


def _biggest_sentence(biggest: dict | None, view: View, words: dict[str, str]) -> str:
    if biggest is None:
        return words["no_change"]
    m = metric(biggest["metric"])
    better = (biggest["change"] > 0) == (m.direction != "lower")
    sentence = words["biggest"].format(
        label=view.label(biggest["metric"]),
        verb=words["rose" if biggest["change"] > 0 else "fell"],
        change=format_change(abs(biggest["change"]), m.format).lstrip("+"),
        value=format_value(biggest["value"], m.format),
        judgement=words["better" if better else "worse"],
    )
    if biggest["segment"] is None:
        return sentence + words["spread"] + words["end"]
    where = f"{say(biggest['dimension'], view.language)} {biggest['segment']}"
    return (
        sentence
        + words["where"].format(where=where, change=format_change(biggest["segment_change"], m.format))
        + (words["end"])
    )


def _crises_sentence(con, settings: Settings, view: View, words: dict[str, str]) -> str:
    """How many crises are open by severity (most severe first) and the most severe one, as the Overview lists them."""
    listed = open_crisis_list(con, settings, view)
    if listed.is_empty():
        return words["no_crisis"]
    severity = SEVERITY_WORDS.get(view.language, SEVERITY_WORDS["en"])
    counts = listed.group_by("severity").len()
    counted = dict(zip(counts["severity"], counts["len"], strict=True))
    parts = [
        words["count"].format(n=counted[level], severity=severity[level])
        for level in reversed(SEVERITIES)
        if counted.get(level)
    ]
    first = listed.row(0, named=True)  # most severe first, then the latest flagged
    return words["crises"].format(
        counts=words["sep"].join(parts),
        type=TYPE_WORDS.get(view.language, {}).get(first["type"], str(first["type"]).replace("_", " ")),
        label=view.label(first["metric"]),
        where=first["where"],
        since=format_period(first["start"]),
    )


def _target_text(settings: Settings, name: str) -> str:
    target = settings.target_for(name)
    return format_target(target.bound, target.value, metric(name).format)
