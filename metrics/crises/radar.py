"""The crisis radar: scan every scanned KPI overall and per segment, flag, type, grade and explain crises.

Grain of the scan: one row per metric, dimension, segment and complete period. A period
still in progress is never judged: an incomplete week is not a drop.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
from scipy import stats

from metrics.crises.detectors import (
    binomial_cusum,
    ewma,
    fill_periods,
    level_chart,
    proportion_chart,
    volume_chart,
    western_electric,
    window_score,
)
from metrics.crises.model import DetectedCrisis
from metrics.kpis.catalog import metric as catalog_metric
from metrics.kpis.compute import Query, compute, compute_dimensions
from metrics.kpis.settings import Settings, load_settings
from metrics.kpis.trends import change_p_values

RULES_FILE = Path(__file__).parent / "crisis_rules.toml"
KEYS = ["metric", "dimension", "segment"]
STEP = {"week": timedelta(days=7), "day": timedelta(days=1)}
EVERY = {"week": "1w", "day": "1d"}


@cache
def rules() -> dict:
    """The radar's rules from crisis_rules.toml."""
    return tomllib.loads(RULES_FILE.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Scan:
    """Everything one scan computed: the judged series (for charts) and the crises found."""

    grain: str
    proportions: pl.DataFrame
    volumes: pl.DataFrame
    levels: pl.DataFrame
    episodes: pl.DataFrame
    crises: list[DetectedCrisis]
    last_complete: date | None


def _series(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    grain: str,
    specs: list[dict] | None = None,
    dimensions: list[str] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    scan = rules()["scan"]
    proportion_parts, volume_parts, level_parts = [], [], []
    for spec in specs or scan["metrics"]:
        wanted = dimensions or scan["dimensions"]
        if spec["kind"] == "level":
            # Medians and backlog ages are not in the cube: every dimension in one pass over the rows.
            every = compute_dimensions(con, spec["metric"], grain, settings, tuple(wanted))
            results = [(d, every.filter(pl.col("dimension") == d).drop("dimension")) for d in wanted]
        else:
            results = [
                (d, compute(con, Query((spec["metric"],), grain, None if d == "overall" else d), settings))
                for d in wanted
            ]
        for dimension, result in results:
            result = result.filter(pl.col("complete"))
            if result.is_empty():
                continue
            tagged = result.with_columns(pl.lit(dimension).alias("dimension"))
            if spec["kind"] == "volume":
                volume_parts.append(tagged.select(*KEYS, "period_start", pl.col("value").alias("count")))
            elif spec["kind"] == "level":
                level_parts.append(
                    tagged.select(
                        *KEYS,
                        "period_start",
                        "value",
                        pl.col("ci_low").fill_null(pl.col("value")).alias("value_low"),
                        pl.col("n").cast(pl.Float64).fill_null(0.0),
                    )
                )
            else:
                bad = (
                    pl.col("denominator") - pl.col("numerator") if spec["bad"] == "complement" else pl.col("numerator")
                )
                proportion_parts.append(
                    tagged.select(*KEYS, "period_start", bad.alias("bad"), pl.col("denominator").alias("n"))
                )
    empty_p = pl.DataFrame(
        schema={**dict.fromkeys(KEYS, pl.String), "period_start": pl.Date, "bad": pl.Float64, "n": pl.Float64}
    )
    empty_v = pl.DataFrame(schema={**dict.fromkeys(KEYS, pl.String), "period_start": pl.Date, "count": pl.Float64})
    empty_l = pl.DataFrame(
        schema={
            **dict.fromkeys(KEYS, pl.String),
            "period_start": pl.Date,
            **dict.fromkeys(("value", "value_low", "n"), pl.Float64),
        }
    )
    proportions = pl.concat(proportion_parts) if proportion_parts else empty_p
    volumes = pl.concat(volume_parts) if volume_parts else empty_v
    levels = pl.concat(level_parts) if level_parts else empty_l
    return proportions, volumes, levels


def _parameters(grain: str) -> pl.DataFrame:
    # A key with a grain suffix (min_ratio_day) overrides the plain one at that grain.
    limits = rules()["thresholds"][grain]
    specs = [
        {**spec, **{k.rsplit("_", 1)[0]: v for k, v in spec.items() if k.endswith(f"_{grain}")}}
        for spec in rules()["scan"]["metrics"]
    ]
    return pl.DataFrame(
        {
            "metric": [s["metric"] for s in specs],
            "min_rise": [float(s.get("min_rise", 0.0)) for s in specs],
            "min_ratio": [float(s.get("min_ratio", 1.0)) for s in specs],
            "min_excess": [float(s.get("min_excess", 0.0)) for s in specs],
            "min_n": [float(s.get("min_n", limits["min_n"])) for s in specs],
            "watch_drift": [bool(s.get("drift", False)) for s in specs],
        }
    )


def judge(
    proportions: pl.DataFrame, volumes: pl.DataFrame, grain: str, levels: pl.DataFrame | None = None
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Run the detectors and mark each period ``flagged`` (with ``signal`` spike or drift).

    Returns the charted proportions, the counted volumes and the charted levels (durations, backlog).
    """
    limits = rules()["thresholds"][grain]
    params = _parameters(grain)
    charted = pl.DataFrame()
    if not proportions.is_empty():
        filled = fill_periods(proportions, KEYS, EVERY[grain], ["bad", "n"])
        charted = proportion_chart(filled, KEYS, limits["baseline"], limits["guard"]).join(params, on="metric")
        charted = western_electric(charted, KEYS)
        charted = ewma(charted, KEYS, weight=limits["ewma_weight"])
        shifted = pl.max_horizontal(pl.col("p0") + pl.col("min_rise"), pl.col("p0") * pl.col("min_ratio"))
        charted = binomial_cusum(charted, KEYS, shifted)
        material = ((pl.col("p") - pl.col("p0")) >= pl.col("min_rise")) & (
            pl.col("p") >= pl.col("p0") * pl.col("min_ratio")
        )
        window = limits["recent_window"]
        recent_rise = (
            pl.col("bad").rolling_sum(window, min_samples=2).over(KEYS)
            / pl.col("n").rolling_sum(window, min_samples=2).over(KEYS)
        ) - pl.col("p0")
        spike = (pl.col("z_adj") >= limits["spike_z"]) & material & (pl.col("n") >= pl.col("min_n"))
        sustained = pl.lit(False)
        for window in limits.get("windows", []):
            charted = window_score(charted, KEYS, window).rename(
                {"z_window": f"z_window_{window}", "p_window": f"p_window_{window}", "n_window": f"n_window_{window}"}
            )
            p_window = pl.col(f"p_window_{window}")
            sustained = sustained | (
                (pl.col(f"z_window_{window}") >= limits["window_z"])
                & ((p_window - pl.col("p0")) >= pl.col("min_rise"))
                & (p_window >= pl.col("p0") * pl.col("min_ratio"))
                & (pl.col(f"n_window_{window}") >= pl.col("min_n"))
            )
        drift = (
            pl.col("watch_drift")
            & (pl.col("cusum") >= limits["cusum_h"])
            & (pl.col("ewma") >= pl.col("ewma_limit"))
            & (recent_rise >= pl.col("min_rise") / 2)
        )
        charted = charted.with_columns(
            (spike | sustained).fill_null(False).alias("spike"),
            sustained.fill_null(False).alias("sustained"),
            drift.fill_null(False).alias("drift"),
        ).with_columns(
            (pl.col("spike") | pl.col("drift")).alias("flagged"),
            (pl.col("p") - pl.col("p0")).alias("effect"),
            (pl.col("p") / pl.col("p0")).alias("ratio"),
            ((pl.col("bad") - pl.col("p0") * pl.col("n")).clip(0, None)).alias("excess"),
        )
    counted = pl.DataFrame()
    if not volumes.is_empty():
        filled = fill_periods(volumes, KEYS, EVERY[grain], ["count"])
        counted = volume_chart(filled, KEYS, limits["volume_seasonal_lag"], limits["volume_baseline"], guard=1).join(
            params, on="metric"
        )
        flagged = (
            (pl.col("z") >= limits["spike_z"])
            & (pl.col("ratio") >= pl.col("min_ratio"))
            & ((pl.col("count") - pl.col("expected")) >= pl.col("min_excess"))
        )
        counted = counted.with_columns(
            flagged.fill_null(False).alias("flagged"),
            flagged.fill_null(False).alias("spike"),
            pl.lit(False).alias("drift"),
            (pl.col("count") - pl.col("expected")).clip(0, None).alias("excess"),
            pl.col("z").alias("z_adj"),
        )
    leveled = pl.DataFrame()
    if levels is not None and not levels.is_empty():
        season = grain == "day"
        period = 7 if season else 1
        leveled = level_chart(
            levels, KEYS, limits["baseline"] // period, limits["guard"] // period, weekly_season=season
        ).join(params, on="metric")
        # Material only when even the low end of the period's own interval is that far above the usual
        # level: a p90 sitting in the gap between tickets solved at once and reopened ones flips by chance.
        flagged = (
            (pl.col("z") >= limits["level_z"])
            & (pl.col("value_low") >= pl.col("expected") * pl.col("min_ratio"))
            & (pl.col("n") >= pl.col("min_n"))
        )
        leveled = leveled.with_columns(
            flagged.fill_null(False).alias("flagged"),
            flagged.fill_null(False).alias("spike"),
            pl.lit(False).alias("drift"),
            # The customers whose tickets waited in a period out of control.
            pl.when(flagged).then(pl.col("n")).otherwise(0.0).alias("excess"),
            pl.col("z").alias("z_adj"),
        )
    return charted, counted, leveled


def episodes(
    charted: pl.DataFrame, counted: pl.DataFrame, grain: str, leveled: pl.DataFrame | None = None
) -> pl.DataFrame:
    """Runs of flagged periods per metric and segment (a single unflagged period does not break a run)."""
    columns = [*KEYS, "period_start", "z_adj", "excess", "ratio", "spike", "drift"]
    min_run = rules()["thresholds"][grain].get("min_run", 1)
    alone_z = rules()["thresholds"][grain].get("alone_z", float("inf"))
    parts = []
    if not charted.is_empty():
        parts.append(
            charted.filter("flagged").select(*columns, "p", "p0", "n", "sustained", pl.lit("proportion").alias("kind"))
        )
    if not counted.is_empty():
        parts.append(
            counted.filter("flagged").select(
                *columns,
                pl.col("count").alias("p"),
                pl.col("expected").alias("p0"),
                pl.col("count").alias("n"),
                pl.lit(False).alias("sustained"),
                pl.lit("volume").alias("kind"),
            )
        )
    if leveled is not None and not leveled.is_empty():
        parts.append(
            leveled.filter("flagged").select(
                *columns,
                pl.col("value").alias("p"),
                pl.col("expected").alias("p0"),
                "n",
                pl.lit(False).alias("sustained"),
                pl.lit("level").alias("kind"),
            )
        )
    if not parts:
        return pl.DataFrame()
    flagged = pl.concat(
        [
            p.with_columns(pl.col(c).cast(pl.Float64) for c in ("p", "p0", "n", "excess", "ratio", "z_adj"))
            for p in parts
        ]
    )
    gap = (pl.col("period_start") - pl.col("period_start").shift(1)).over(KEYS)
    flagged = flagged.sort([*KEYS, "period_start"]).with_columns(
        (gap.is_null() | (gap > STEP[grain] * 2)).cum_sum().over(KEYS).alias("episode")
    )
    return (
        flagged.group_by([*KEYS, "episode"])
        .agg(
            pl.col("kind").first(),
            pl.col("period_start").min().alias("start"),
            pl.col("period_start").max().alias("last"),
            pl.col("z_adj").max().alias("peak_z"),
            pl.col("ratio").max().alias("peak_ratio"),
            pl.col("excess").sum().alias("excess"),
            pl.col("p0").first().alias("baseline"),
            pl.col("p").sort_by("z_adj").last().alias("peak_value"),
            pl.col("spike").any().alias("spike"),
            pl.col("spike").first().alias("opens_with_spike"),
            pl.col("drift").any().alias("drift"),
            pl.col("period_start").sort().slice(min_run - 1, 1).first().alias("_run_complete"),
            # A level (a median of few tickets) is never trusted on one period alone.
            pl.col("period_start")
            .filter(((pl.col("z_adj") >= alone_z) & (pl.col("kind") != "level")) | pl.col("sustained"))
            .min()
            .alias("_alone"),
        )
        .with_columns(
            # The period in which the radar would have spoken: volume bursts at once, rates
            # once the run is long enough, one period is extreme or the last few pooled are
            # (else scan() drops it).
            pl.when(pl.col("kind") == "volume")
            .then(pl.col("start"))
            .otherwise(pl.min_horizontal("_run_complete", "_alone"))
            .alias("raised")
        )
        .drop("_run_complete", "_alone")
        .sort([*KEYS, "start"])
    )


def scanned_metric(name: str) -> dict:
    """The scan rule of one watched metric (``KeyError`` when the radar does not watch it)."""
    for spec in rules()["scan"]["metrics"]:
        if spec["metric"] == name:
            return spec
    raise KeyError(name)


def judged_series(
    con: duckdb.DuckDBPyConnection, settings: Settings, metric_name: str, dimension: str, segment: str, grain: str
) -> tuple[pl.DataFrame, str]:
    """One watched metric in one segment as the radar judged it, in the KPI's own units, and the method used.

    One row per complete period: ``value``, ``centre`` (the trailing baseline), ``limit`` (the
    control limit on the bad side: below the centre for CSAT and SLA attainment, above it for
    complaints, durations and volumes), ``flagged`` and, for proportions, ``rules`` (the
    Western Electric rules broken). The text names the chart, and for a proportion whether the
    observed variation made it a Laney p' chart.
    """
    spec = scanned_metric(metric_name)
    # The whole dimension, not a filter on the segment: the daily KPI cube answers that, and a segment's
    # control limits depend only on its own series.
    proportions, volumes, levels = _series(con, settings, grain, [spec], [dimension])
    charted, counted, leveled = judge(proportions, volumes, grain, levels)
    judged = {"proportion": charted, "volume": counted, "level": leveled}[spec["kind"]]
    if judged.is_empty():
        return pl.DataFrame(), ""
    judged = judged.filter(pl.col("segment") == segment).sort("period_start")
    if spec["kind"] == "proportion":
        flip = spec["bad"] == "complement"
        kpi = (lambda c: 1 - pl.col(c)) if flip else pl.col
        broken = pl.concat_str(
            [pl.when(pl.col(f"rule_{r}")).then(pl.lit(str(r))) for r in (1, 2, 3, 4)], separator=", ", ignore_nulls=True
        )
        frame = judged.select(
            "period_start", kpi("p").alias("value"), kpi("p0").alias("centre"), kpi("ucl").alias("limit"), "flagged",
            broken.alias("rules"),
        )  # fmt: skip
        dispersion = judged["sigma_z"].drop_nulls().drop_nans()
        ratio = float(dispersion[-1]) if dispersion.len() else 1.0
        method = (
            f"Laney p' chart: observed variation {ratio:.1f}x what binomial sampling allows, limits widened"
            if ratio > 1
            else f"p-chart: observed variation {ratio:.1f}x binomial, limits from each period's own sample size"
        )
        return frame, method + "; Western Electric rules 1-4, EWMA and binomial CUSUM on top"
    limits = rules()["thresholds"][grain]
    if spec["kind"] == "level":
        frame = judged.select("period_start", "value", pl.col("expected").alias("centre"), pl.col("ucl").alias("limit"))
        method = "XmR chart of the logarithm (robust limits)" + (
            ", each weekday against earlier ones" if grain == "day" else ""
        )
    else:
        spread = (pl.col("expected").clip(1, None) * pl.col("dispersion")).sqrt()
        frame = judged.select(
            "period_start", pl.col("count").alias("value"), pl.col("expected").alias("centre"),
            (pl.col("expected") + limits["spike_z"] * spread).alias("limit"),
        )  # fmt: skip
        method = "counts against the same " + (
            "weekday of the previous eight weeks" if grain == "day" else "previous eight weeks"
        )
    return frame.with_columns(judged["flagged"], pl.lit(None, pl.String).alias("rules")), method


def _overlaps(a_start: date, a_last: date, b_start: date, b_last: date, step: timedelta) -> bool:
    return a_start <= b_last + step and b_start <= a_last + step


def _cluster(found: pl.DataFrame, step: timedelta) -> list[list[dict]]:
    """Episodes of the same segment that overlap in time form one crisis."""
    clusters: list[list[dict]] = []
    for (_, _), group in found.sort("start").group_by(["dimension", "segment"], maintain_order=True):
        current: list[dict] = []
        current_last: date | None = None
        for row in group.sort("start").iter_rows(named=True):
            # A burst arriving in the middle of a longer trouble is a new event, not more of the same.
            burst = row["kind"] == "volume" and (row["last"] - row["start"]) <= step
            if current and burst and row["start"] > current[0]["start"] + step:
                clusters.append(current)
                current, current_last = [], None
            if current and current_last is not None and row["start"] <= current_last + step:
                current.append(row)
                current_last = max(current_last, row["last"])
            else:
                if current:
                    clusters.append(current)
                current, current_last = [row], row["last"]
        if current:
            clusters.append(current)
    return clusters


COMPLAINT_SIGNALS = ("complaint_rate", "complaint_volume", "communication_complaint_rate")
SLOWDOWN_SIGNALS = ("first_response_median", "first_response_p90", "resolution_median", "resolution_p90", "backlog_age")
_COMMUNICATION_COMPLAINTS = "complaints about information or attitude"


def _facts(cluster: list[dict], info_share: float | None, step: timedelta) -> dict:
    by_metric = {}
    for episode in cluster:
        best = by_metric.get(episode["metric"])
        if best is None or episode["peak_z"] > best["peak_z"]:
            by_metric[episode["metric"]] = episode
    start = min(e["start"] for e in cluster)
    last = max(e["last"] for e in cluster)
    sudden = rules()["sudden"]
    tickets_burst = by_metric.get("ticket_volume")
    complaints_burst = by_metric.get("complaint_volume")
    short = complaints_burst is not None and (
        (complaints_burst["last"] - complaints_burst["start"]).days + step.days <= sudden["max_days"]
    )
    if complaints_burst is not None and not (
        complaints_burst["peak_ratio"] >= sudden["complaint_ratio"]
        and complaints_burst["excess"] >= sudden["complaint_excess"]
        and short
    ):
        complaints_burst = None
    if (
        tickets_burst is not None
        and (tickets_burst["last"] - tickets_burst["start"]).days + step.days > sudden["max_days"]
    ):
        tickets_burst = None  # weeks of extra tickets are a slow build-up (or follow-ups), not a sudden event
    volume = tickets_burst or complaints_burst
    csat = by_metric.get("csat")
    sla = by_metric.get("first_response_sla")
    reopen = by_metric.get("reopen_rate")
    fcr = by_metric.get("first_contact_resolution")
    dimension, segment = cluster[0]["dimension"], cluster[0]["segment"]
    span_days = (last - start).days + step.days
    slow = max((by_metric[m] for m in SLOWDOWN_SIGNALS if m in by_metric), key=lambda e: e["peak_z"], default=None)
    # Complaints that only rise weeks into a crisis are its consequence, not its nature.
    complaints_from = min((e["start"] for e in cluster if e["metric"] in COMPLAINT_SIGNALS), default=None)
    complaints_lead = complaints_from is not None and (complaints_from - start).days <= max(step.days, span_days // 4)
    complaint_ratio = max(
        (by_metric[m]["peak_ratio"] for m in ("complaint_rate", "complaint_volume") if m in by_metric),
        default=0.0,
    )
    communication_rate = by_metric.get("communication_complaint_rate")
    return {
        "where": "the whole organisation" if dimension == "overall" else f"{dimension} {segment}",
        "days": (last - start).days + step.days,
        "volume_spike": volume is not None,
        "volume_metric": catalog_metric(volume["metric"]).label.lower() if volume else "",
        "volume_ratio": volume["peak_ratio"] if volume else 0.0,
        # Responses slowing for a week inside a long CSAT slide is a symptom, not the cause.
        "response_sla_drop": sla is not None and (sla["last"] - sla["start"]).days + step.days >= 0.5 * span_days,
        "sla_before": 1 - sla["baseline"] if sla else 0.0,
        "sla_now": 1 - sla["peak_value"] if sla else 0.0,
        "reopen_rise": reopen is not None,
        "reopen_before": reopen["baseline"] if reopen else 0.0,
        "reopen_now": reopen["peak_value"] if reopen else 0.0,
        "fcr_drop": fcr is not None,
        "fcr_before": 1 - fcr["baseline"] if fcr else 0.0,
        "fcr_now": 1 - fcr["peak_value"] if fcr else 0.0,
        # Like the SLA: a slowdown for a week inside a long CSAT slide is a symptom, not the cause.
        "slowdown": slow is not None and (slow["last"] - slow["start"]).days + step.days >= 0.5 * span_days,
        "slow_what": catalog_metric(slow["metric"]).label.lower() if slow else "",
        "slow_ratio": slow["peak_ratio"] if slow else 0.0,
        "complaint_rise": complaints_lead,
        "complaint_what": "complaints" if complaint_ratio or not communication_rate else _COMMUNICATION_COMPLAINTS,
        "complaint_ratio": complaint_ratio or (communication_rate["peak_ratio"] if communication_rate else 0.0),
        "information_or_attitude": info_share is not None and info_share >= rules()["communication"]["min_share"],
        "information_share": info_share or 0.0,
        "csat_drop": csat is not None,
        "csat_spike": csat is not None and csat["opens_with_spike"],
        "csat_points": ((csat["peak_value"] - csat["baseline"]) * 100) if csat else 0.0,
        "handled_by_people": dimension in ("team", "agent", "channel"),
        "csat_note": (f", CSAT down {(csat['peak_value'] - csat['baseline']) * 100:.0f} points" if csat else ""),
        "concentration": "",
    }


PRIMARY = {
    "sudden_event": ("complaint_volume", "ticket_volume", "complaint_rate", "first_response_sla"),
    "service_quality": ("first_response_sla", "reopen_rate", "csat", "first_contact_resolution", *SLOWDOWN_SIGNALS),
    "communication_failure": (
        "complaint_rate",
        "communication_complaint_rate",
        "complaint_volume",
    ),
    "customer_satisfaction": ("csat",),
}


def _type(facts: dict) -> tuple[str, str]:
    for rule in rules()["types"]:
        if all(facts.get(condition) for condition in rule["when"]):
            values = {**facts, "csat_drop": facts["csat_points"]}
            return rule["type"], rule["reason"].format(**values)
    return "customer_satisfaction", f"KPIs in {facts['where']} moved beyond their control limits"


def _points(value: float, table: list) -> int:
    return next((points for threshold, points in table if value >= threshold), 0)


def _severity(primary: dict, settings: Settings) -> tuple[str, str]:
    grading = rules()["severity"]
    ratio = primary["peak_ratio"] if primary["peak_ratio"] == primary["peak_ratio"] else 1.0
    effect = _points(ratio, grading["effect"])
    confidence = _points(primary["peak_z"], grading["confidence"])
    customers = _points(primary["excess"], grading["customers"])
    distance_points, distance_text = 0, "no target"
    target = settings.target_for(primary["metric"], primary["dimension"], primary["segment"])
    if target is not None and primary["kind"] == "proportion":
        satisfied_metric = primary["metric"] in ("csat", "first_response_sla", "complaint_resolution_sla")
        value = 1 - primary["peak_value"] if satisfied_metric else primary["peak_value"]
        beyond = (target.value - value) if target.bound == "min" else (value - target.value)
        distance_points = _points(max(beyond, 0.0), grading["distance"])
        distance_text = f"{max(beyond, 0) * 100:.0f} points beyond target"
    total = effect + confidence + customers + distance_points
    level = next(name for name, minimum in grading["levels"] if total >= minimum)
    reason = (
        f"{total} points: effect {ratio:.1f}x ({effect}), confidence z={primary['peak_z']:.1f} ({confidence}), "
        f"{primary['excess']:.0f} customers affected ({customers}), {distance_text} ({distance_points})"
    )
    return level, reason


def _information_share(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    dimension: str,
    segment: str,
    start: date,
    last: date,
    grain: str,
) -> float | None:
    """Share of the crisis window's extra complaints whose category or text is about information or attitude."""
    keywords = settings.conventions.communication_keywords
    pattern = "|".join(re.escape(k) for k in keywords)
    window = (last - start).days + STEP[grain].days
    base_start = start - timedelta(days=window * 4)
    where = "" if dimension == "overall" else f" AND {dimension} = ?"
    params = [] if dimension == "overall" else [segment]
    query = f"""
        SELECT count(*) FILTER (WHERE created_at::DATE >= ?)::DOUBLE AS now_all,
               count(*) FILTER (WHERE created_at::DATE >= ? AND regexp_matches(lower(coalesce(category, '') || ' ' ||
                   coalesce(text, '')), ?))::DOUBLE AS now_info,
               count(*) FILTER (WHERE created_at::DATE < ?)::DOUBLE AS base_all,
               count(*) FILTER (WHERE created_at::DATE < ? AND regexp_matches(lower(coalesce(category, '') || ' ' ||
                   coalesce(text, '')), ?))::DOUBLE AS base_info
        FROM (SELECT c.created_at, c.category, c.text, coalesce(c.channel, t.channel) AS channel,
                     coalesce(c.team, t.team) AS team, coalesce(c.product, t.product) AS product,
                     coalesce(c.region, t.region) AS region, t.customer_tier
              FROM complaints c LEFT JOIN tickets t ON t.ticket_id = c.ticket_id)
        WHERE created_at::DATE >= ? AND created_at::DATE < ? {where}"""
    end = last + STEP[grain]
    row = con.sql(query, params=[start, start, pattern, start, start, pattern, base_start, end, *params]).fetchall()[0]
    now_all, now_info, base_all, base_info = row
    scale = window / (window * 4)
    extra_all = now_all - base_all * scale
    if extra_all <= 0:
        return None
    return max(0.0, min(1.0, (now_info - base_info * scale) / extra_all))


def contributors(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    metric_name: str,
    dimension: str,
    segment: str,
    start: date,
    last: date,
    grain: str,
    limit: int = 10,
) -> list[dict]:
    """Which segments drive a change: each segment's own rate change and the change of the mix, ranked.

    The crisis window is compared with a baseline of the same length times four just before
    it. For rates, the change splits exactly into sum(mean weight x rate change) and
    sum(mean rate x weight change); each segment gets a two-proportion test and the p-values
    are Benjamini-Hochberg adjusted across all segments compared. Levels (durations, backlog)
    split the same way, each segment's level weighted by its tickets and tested with Welch's
    t on its periods' log levels; volumes split into each segment's extra count.
    """
    step = STEP[grain]
    window_days = (last - start).days + step.days
    base_from = start - timedelta(days=4 * window_days)
    filters = () if dimension == "overall" else ((dimension, (segment,)),)
    spec = scanned_metric(metric_name)
    rows = []
    breakdowns = [by for by in rules()["scan"]["contributor_dimensions"] if by != dimension]
    every = compute_dimensions(
        con, metric_name, grain, settings, tuple(breakdowns), base_from, last + step - timedelta(days=1), filters
    )
    for by in breakdowns:
        result = every.filter(pl.col("dimension") == by)
        if result.is_empty():
            continue
        windowed = result.with_columns(
            pl.when(pl.col("period_start") >= start).then(pl.lit("now")).otherwise(pl.lit("before")).alias("window")
        )
        if spec["kind"] == "volume":
            totals = windowed.group_by("segment", "window").agg(pl.col("value").sum().alias("count"))
            wide = totals.pivot(on="window", index="segment", values="count").fill_null(0)
            for column in ("now", "before"):
                if column not in wide.columns:
                    wide = wide.with_columns(pl.lit(0.0).alias(column))
            wide = wide.with_columns((pl.col("before") / 4).alias("expected"))
            wide = wide.with_columns((pl.col("now") - pl.col("expected")).alias("contribution"))
            expected = wide["expected"].to_numpy()
            observed = wide["now"].to_numpy()
            with np.errstate(divide="ignore", invalid="ignore"):
                p_values = 2 * stats.norm.sf(np.abs(observed - expected) / np.sqrt(np.maximum(expected, 1)))
            wide = wide.with_columns(
                pl.lit(p_values).alias("p_value"),
                pl.lit(0.0).alias("rate_effect"),
                pl.col("contribution").alias("mix_effect"),
                (pl.col("before") / pl.col("before").sum()).alias("weight"),
            )
        else:
            wide = _level_sides(windowed) if spec["kind"] == "level" else _rate_sides(windowed, spec)
            if wide is None:
                continue
            n0_total, n1_total = wide["n0"].sum(), wide["n1"].sum()
            w0, w1 = pl.col("n0") / n0_total, pl.col("n1") / n1_total
            wide = wide.with_columns(
                (((w0 + w1) / 2) * (pl.col("p1") - pl.col("p0"))).alias("rate_effect"),
                (((pl.col("p0") + pl.col("p1")) / 2) * (w1 - w0)).alias("mix_effect"),
            ).with_columns((pl.col("rate_effect") + pl.col("mix_effect")).alias("contribution"), w0.alias("weight"))
        rows.append(
            wide.select(
                pl.lit(by).alias("dimension"),
                "segment",
                "contribution",
                "rate_effect",
                "mix_effect",
                "p_value",
                pl.col("weight").cast(pl.Float64),
            )
        )
    if not rows:
        return []
    # Segments with no observations on one side (e.g. complaint causes that tickets do not have) explain nothing.
    # Sorted first: the segments come out of group-bys in no set order, and both the float sums
    # below and the ranking of equal contributions must not change from one run to the next.
    ranked = (
        pl.concat(rows)
        .sort("dimension", "segment")
        .with_columns(pl.col(c).fill_nan(None) for c in ("contribution", "rate_effect", "mix_effect"))
        .drop_nulls(["contribution"])
        .with_columns(pl.col("p_value").fill_nan(1.0).fill_null(1.0))
    )
    ranked = ranked.with_columns(pl.lit(benjamini_hochberg(ranked["p_value"].to_numpy())).alias("q_value"))
    total = ranked.group_by("dimension", maintain_order=True).agg(pl.col("contribution").sum().alias("dimension_total"))
    ranked = ranked.join(total, on="dimension").with_columns(
        (pl.col("contribution") / pl.col("dimension_total")).alias("share")
    )
    top = (
        ranked.filter(pl.col("contribution") > 0)
        .sort(["contribution", "dimension", "segment"], descending=[True, False, False])
        .head(limit)
    )
    return [
        {
            "dimension": r["dimension"],
            "segment": r["segment"],
            "contribution": float(r["contribution"]),
            "share": float(r["share"]) if r["share"] == r["share"] else None,
            "rate_effect": float(r["rate_effect"]),
            "mix_effect": float(r["mix_effect"]),
            "weight": float(r["weight"]) if r["weight"] == r["weight"] else None,
            "q_value": float(r["q_value"]),
            "significant": bool(r["q_value"] < 0.05),
        }
        for r in top.iter_rows(named=True)
    ]


def _rate_sides(windowed: pl.DataFrame, spec: dict) -> pl.DataFrame | None:
    """Per segment: bad share before (p0, of n0) and now (p1, of n1), with a two-proportion test."""
    bad = pl.col("denominator") - pl.col("numerator") if spec["bad"] == "complement" else pl.col("numerator")
    totals = windowed.group_by("segment", "window").agg(bad.sum().alias("k"), pl.col("denominator").sum().alias("n"))
    wide = _sides(totals, ["k", "n"])
    if wide["n0"].sum() == 0 or wide["n1"].sum() == 0:
        return None
    p0 = pl.when(pl.col("n0") > 0).then(pl.col("k0") / pl.col("n0")).otherwise(pl.col("k1") / pl.col("n1"))
    p1 = pl.when(pl.col("n1") > 0).then(pl.col("k1") / pl.col("n1")).otherwise(p0)
    p_values = change_p_values(
        wide["n0"].to_numpy(), wide["k0"].to_numpy(), wide["n1"].to_numpy(), wide["k1"].to_numpy()
    )
    return wide.with_columns(p0.alias("p0"), p1.alias("p1"), pl.lit(p_values).alias("p_value"))


def _level_sides(windowed: pl.DataFrame) -> pl.DataFrame | None:
    """Per segment: ticket-weighted level before (p0) and now (p1), with Welch's test on the periods' log levels.

    A median does not add up over segments the way a count does; weighting each segment's level
    by its tickets makes the split into own change and mix exact for the weighted level, which
    is what the ranking needs.
    """
    valued = windowed.filter(pl.col("value") > 0).with_columns(
        pl.col("value").log().alias("log_value"), pl.col("n").cast(pl.Float64).fill_null(0.0)
    )
    totals = valued.group_by("segment", "window").agg(
        ((pl.col("value") * pl.col("n")).sum() / pl.col("n").sum()).alias("level"),
        pl.col("n").sum(),
        pl.col("log_value").mean().alias("mean_log"),
        pl.col("log_value").var().fill_null(0.0).alias("var_log"),
        pl.len().cast(pl.Float64).alias("periods"),
    )
    wide = _sides(totals, ["level", "n", "mean_log", "var_log", "periods"])
    if wide["n0"].sum() == 0 or wide["n1"].sum() == 0:
        return None
    c0, c1 = wide["periods0"].to_numpy(), wide["periods1"].to_numpy()
    s0 = wide["var_log0"].to_numpy() / np.maximum(c0, 1)
    s1 = wide["var_log1"].to_numpy() / np.maximum(c1, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (wide["mean_log1"].to_numpy() - wide["mean_log0"].to_numpy()) / np.sqrt(s0 + s1)
        df = (s0 + s1) ** 2 / (s0**2 / np.maximum(c0 - 1, 1) + s1**2 / np.maximum(c1 - 1, 1))
        p_values = 2 * stats.t.sf(np.abs(t), np.maximum(df, 1))
    p_values = np.where((c0 >= 2) & (c1 >= 1), p_values, np.nan)
    p0 = pl.when(pl.col("n0") > 0).then(pl.col("level0")).otherwise(pl.col("level1"))
    p1 = pl.when(pl.col("n1") > 0).then(pl.col("level1")).otherwise(p0)
    return wide.with_columns(p0.alias("p0"), p1.alias("p1"), pl.lit(p_values).alias("p_value"))


def _sides(totals: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """One row per segment with each column for the baseline (suffix 0) and the crisis window (suffix 1)."""
    before = totals.filter(pl.col("window") == "before").select("segment", *(pl.col(c).alias(f"{c}0") for c in columns))
    now = totals.filter(pl.col("window") == "now").select("segment", *(pl.col(c).alias(f"{c}1") for c in columns))
    return now.join(before, on="segment", how="full", coalesce=True).fill_null(0)


def benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values), in the input order."""
    p = np.asarray(p_values, dtype=float)
    if p.size == 0:
        return p
    order = np.argsort(p)
    ranked = p[order] * p.size / np.arange(1, p.size + 1)
    adjusted = np.minimum.accumulate(ranked[::-1])[::-1].clip(0, 1)
    result = np.empty_like(adjusted)
    result[order] = adjusted
    return result


def _candidates(
    con: duckdb.DuckDBPyConnection, settings: Settings, found: pl.DataFrame, grain: str, since: date | None
) -> list[dict]:
    """One typed candidate per cluster of overlapping episodes in a segment."""
    step = STEP[grain]
    clusters = _cluster(found, step)
    segment_clusters = [c for c in clusters if c[0]["dimension"] != "overall"]
    candidates = []
    for cluster in clusters:
        start = min(e["start"] for e in cluster)
        last = max(e["last"] for e in cluster)
        if since and last < since:
            continue
        metrics_here = {e["metric"] for e in cluster}
        if cluster[0]["dimension"] == "overall" and any(
            metrics_here & {e["metric"] for e in other}
            and _overlaps(start, last, min(e["start"] for e in other), max(e["last"] for e in other), step)
            for other in segment_clusters
        ):
            continue  # the whole organisation moved because a segment did: report the segment
        dimension, segment = cluster[0]["dimension"], cluster[0]["segment"]
        info_share = (
            _information_share(con, settings, dimension, segment, start, last, grain)
            if metrics_here & set(COMPLAINT_SIGNALS)
            else None
        )
        facts = _facts(cluster, info_share, step)
        crisis_type, type_reason = _type(facts)
        primary = next(
            (e for name in PRIMARY[crisis_type] for e in cluster if e["metric"] == name),
            max(cluster, key=lambda e: e["peak_z"]),
        )
        candidates.append(
            {
                "cluster": cluster,
                "dimension": dimension,
                "segment": segment,
                "start": start,
                "last": last,
                "raised": min(e["raised"] for e in cluster),
                "type": crisis_type,
                "type_reason": type_reason,
                "primary": primary,
                "also_in": [],
            }
        )
    return candidates


LOAD_SIGNALS = {"first_response_sla", "reopen_rate", "complaint_resolution_sla", "first_contact_resolution"}.union(
    SLOWDOWN_SIGNALS
)


def _merge(candidates: list[dict], step: timedelta) -> list[dict]:
    """Fold the echoes of one event into it.

    A sudden event floods several segments at once (a region, its category, the team that
    handles it) and slows responses everywhere: the sudden event with the largest rise keeps
    the crisis, and overlapping sudden events, response-time crises and CSAT dips that lie
    inside its window become places it was also seen.
    """
    # The place that holds most of the extra volume at the sharpest rise is where the event sits.
    sudden = sorted(
        (c for c in candidates if c["type"] == "sudden_event"),
        key=lambda c: -c["primary"]["excess"] * float(np.log(max(c["primary"]["peak_ratio"], 1.0))),
    )
    absorbed: set[int] = set()
    for leader in sudden:
        if id(leader) in absorbed:
            continue
        for other in candidates:
            if other is leader or id(other) in absorbed:
                continue
            inside = other["start"] >= leader["start"] - step and other["last"] <= leader["last"] + step
            metrics_there = {e["metric"] for e in other["cluster"]}
            # Another burst is the same event only if it began with this one, not weeks into it.
            same_burst = other["type"] == "sudden_event" and abs((other["start"] - leader["start"]).days) <= step.days
            echoes = (
                same_burst or metrics_there <= LOAD_SIGNALS or (inside and metrics_there <= LOAD_SIGNALS | {"csat"})
            )
            if echoes and _overlaps(leader["start"], leader["last"], other["start"], other["last"], step):
                absorbed.add(id(other))
                leader["also_in"].append(f"{other['dimension']} {other['segment']}")
    return [c for c in candidates if id(c) not in absorbed]


def _explain(con: duckdb.DuckDBPyConnection, settings: Settings, candidate: dict, grain: str) -> list[dict]:
    primary = candidate["primary"]
    return contributors(
        con, settings, primary["metric"], candidate["dimension"], candidate["segment"], candidate["start"],
        candidate["last"], grain,
    )  # fmt: skip


def _entry(explained: list[dict], dimension: str, segment: str) -> dict | None:
    return next((c for c in explained if (c["dimension"], c["segment"]) == (dimension, segment)), None)


def _drives(echo: dict, leader: dict) -> str | None:
    """How the leader's places drive the echo's change: "out of proportion", "same population" or not (None).

    Out of proportion: at least ``min_share`` of the change and ``min_lift`` times the place's
    share of the echo's tickets, or the two places are one population under two names (each
    holds nearly all of the other's tickets, like a category and the one team that handles it).
    """
    limits = rules()["echo"]
    places = [(leader["dimension"], leader["segment"])] + [tuple(p.split(" ", 1)) for p in leader["also_in"]]
    entries = [_entry(echo["contributors"], *place) for place in places if place[0] != echo["dimension"]]
    driven = max((e for e in entries if e is not None), key=lambda e: e["share"] or 0.0, default=None)
    if driven is None or (driven["share"] or 0.0) < limits["min_share"]:
        return None
    weight = driven["weight"] or 0.0
    back = _entry(leader.get("contributors") or [], echo["dimension"], echo["segment"])
    same_population = weight >= limits["same_population"] and (
        back is not None and (back["weight"] or 0.0) >= limits["same_population"]
    )
    if driven["share"] >= limits["min_lift"] * weight:
        return "out of proportion"
    return "same population" if same_population else None


def _fold_echoes(
    con: duckdb.DuckDBPyConnection, settings: Settings, candidates: list[dict], grain: str, step: timedelta
) -> list[dict]:
    """Fold a crisis into another that explains it: a failure in one channel shows in every team it serves.

    B is an echo of A when they overlap in time and A's place (or a place already folded into
    A) drives B's change: at least half of it, and well beyond that place's share of B's
    tickets, or the two are one population under two names (then the dimension scanned first
    keeps it). The most concentrated crisis (the highest rise over its baseline) leads, so a
    diluted echo never swallows its source.
    """
    order = {name: i for i, name in enumerate(rules()["scan"]["dimensions"])}
    overlapping = [
        c
        for c in candidates
        if c["dimension"] != "overall"
        and any(o is not c and _overlaps(c["start"], c["last"], o["start"], o["last"], step) for o in candidates)
    ]
    for c in overlapping:
        c["contributors"] = _explain(con, settings, c, grain)
    ranked = sorted(overlapping, key=lambda c: (-_finite(c["primary"]["peak_ratio"]), order[c["dimension"]]))
    absorbed: set[int] = set()
    for leader in ranked:
        if id(leader) in absorbed:
            continue
        for echo in ranked:
            # A sudden event is a source (its own echoes were folded by _merge), never an echo.
            if echo is leader or id(echo) in absorbed or echo["type"] == "sudden_event":
                continue
            # An echo neither comes before its source nor outlasts it.
            inside = echo["start"] >= leader["start"] - step and echo["last"] <= leader["last"] + step * 2
            driven = _drives(echo, leader) if inside else None
            # One population under two names is reported under the dimension scanned first.
            if driven == "same population" and order[echo["dimension"]] < order[leader["dimension"]]:
                continue
            if driven:
                absorbed.add(id(echo))
                leader["also_in"].extend([f"{echo['dimension']} {echo['segment']}", *echo["also_in"]])
                leader["raised"] = min(leader["raised"], max(echo["raised"], leader["start"]))
    return [c for c in candidates if id(c) not in absorbed]


def _finite(value: float) -> float:
    return value if value == value and value not in (float("inf"), float("-inf")) else 0.0


def _describe(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    candidate: dict,
    grain: str,
    last_complete: date | None,
    explain: bool,
) -> DetectedCrisis:
    cluster, primary = candidate["cluster"], candidate["primary"]
    dimension, segment = candidate["dimension"], candidate["segment"]
    start, last = candidate["start"], candidate["last"]
    severity, severity_reason = _severity(primary, settings)
    explained = candidate.get("contributors")
    if explained is None:
        explained = _explain(con, settings, candidate, grain) if explain else []
    type_reason = candidate["type_reason"]
    if candidate["type"] == "sudden_event" and explained:
        category = next((c for c in explained if c["dimension"] == "category" and c["share"]), None)
        if category and category["share"] >= 0.5:
            type_reason = type_reason.replace(" → ", f", {category['share']:.0%} category '{category['segment']}' → ")
    return DetectedCrisis(
        metric=primary["metric"],
        dimension=dimension,
        segment=segment,
        type=candidate["type"],
        type_reason=type_reason,
        severity=severity,
        severity_reason=severity_reason,
        grain=grain,
        start=start,
        last_flagged=last,
        ongoing=last_complete is not None and last >= last_complete,
        raised=candidate["raised"],
        evidence={
            "peak_z": round(float(primary["peak_z"]), 2),
            "baseline": float(primary["baseline"]),
            "peak_value": float(primary["peak_value"]),
            "excess": float(primary["excess"]),
            "kind": primary["kind"],
            "also_seen_in": candidate["also_in"],
        },
        contributors=explained,
        signals=[
            {
                "metric": e["metric"],
                "start": e["start"].isoformat(),
                "last": e["last"].isoformat(),
                "peak_z": round(float(e["peak_z"]), 2),
                "signal": "spike" if e["spike"] else "drift",
                "baseline": float(e["baseline"]),
                "peak_value": float(e["peak_value"]),
            }
            for e in cluster
        ],
    )


def scan(
    con: duckdb.DuckDBPyConnection,
    settings: Settings | None = None,
    grain: str = "week",
    since: date | None = None,
    explain: bool = True,
) -> Scan:
    """Detect crises at ``grain`` over the whole history; report those active on or after ``since``."""
    settings = settings or load_settings()
    if grain not in STEP:
        raise ValueError(f"the radar scans day or week, not {grain!r}")
    step = STEP[grain]
    proportions, volumes, levels = _series(con, settings, grain)
    charted, counted, leveled = judge(proportions, volumes, grain, levels)
    found = episodes(charted, counted, grain, leveled)
    if not found.is_empty():
        # At fine grains one noisy period is not yet a crisis, unless volume burst.
        found = found.filter(pl.col("raised").is_not_null())
    last_complete = max(
        [f["period_start"].max() for f in (charted, counted, leveled) if not f.is_empty()], default=None
    )
    candidates = _candidates(con, settings, found, grain, since) if not found.is_empty() else []
    kept = _fold_echoes(con, settings, _merge(candidates, step), grain, step)
    crises = [_describe(con, settings, c, grain, last_complete, explain) for c in kept]
    return Scan(grain, charted, counted, leveled, found, crises, last_complete)
