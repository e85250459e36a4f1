"""Judging the scanned series: run the detectors, flag periods, and gather flagged periods into episodes.

Grain: ``judge`` returns one row per metric, dimension, segment and period with ``flagged``
and the signal (spike or drift); ``episodes`` one row per run of flagged periods;
``judged_series`` one watched metric in one segment, in the KPI's own units, for a chart.
"""

from __future__ import annotations

import duckdb
import polars as pl

from metrics.crises.detectors import (
    binomial_cusum,
    ewma,
    fill_periods,
    level_chart,
    peers,
    proportion_chart,
    ramp_score,
    volume_chart,
    western_electric,
    window_score,
)
from metrics.crises.rules import EVERY, KEYS, STEP, rules, scanned_metric, slide_thresholds
from metrics.crises.series import scanned_series
from metrics.kpis.settings import Settings


def parameters(grain: str) -> pl.DataFrame:
    """One row per scanned metric: the material change and sample it takes to flag a period at ``grain``."""
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
            "watch_slide": [bool(s.get("slide", False)) for s in specs],
        }
    )


def judge(
    proportions: pl.DataFrame, volumes: pl.DataFrame, grain: str, levels: pl.DataFrame | None = None
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Run the detectors and mark each period ``flagged`` (with ``signal`` spike or drift).

    Returns the charted proportions, the counted volumes and the charted levels (durations, backlog).
    """
    params = parameters(grain)
    charted = pl.DataFrame() if proportions.is_empty() else judge_proportions(proportions, grain, params)
    counted = pl.DataFrame() if volumes.is_empty() else judge_volumes(volumes, grain, params)
    leveled = pl.DataFrame() if levels is None or levels.is_empty() else judge_levels(levels, grain, params)
    return charted, counted, leveled


def judge_proportions(proportions: pl.DataFrame, grain: str, params: pl.DataFrame) -> pl.DataFrame:
    """Bad shares on a Laney p' chart: a spike is far and materially above the baseline, a drift a CUSUM alarm."""
    limits = rules()["thresholds"][grain]
    filled = peers(fill_periods(proportions, KEYS, EVERY[grain], ["bad", "n"]), KEYS)
    charted = proportion_chart(filled, KEYS, limits["baseline"], limits["guard"]).join(params, on="metric")
    charted, ramp = with_ramp(charted, filled, grain)
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
    charted, sustained = pooled_windows(charted, limits)
    drift = (
        pl.col("watch_drift")
        & (pl.col("cusum") >= limits["cusum_h"])
        & (pl.col("ewma") >= pl.col("ewma_limit"))
        & (recent_rise >= pl.col("min_rise") / 2)
    )
    # A slow slide of one segment against its peers (see detectors.ramp_score): caught weeks
    # before the CUSUM, whose reference shift is a step the slide reaches only late.
    slide_z = ramp.get("slide_z", float("inf"))
    slide = (
        pl.col("watch_slide")
        & (pl.col("ramp_z") >= min(slide_z, ramp.get("slide_watch_z", slide_z)))
        & (pl.col("ramp_rise") >= pl.col("min_rise") * ramp.get("slide_min_rise", 1.0))
        & (pl.col("ramp_n") >= (pl.col("min_n") if ramp["grain"] == grain else ramp["min_n"]))
    )
    # An early warning: flagged by nothing but a ramp not yet at slide_z (see crisis_rules.toml).
    early = slide & (pl.col("ramp_z") < slide_z) & ~(spike | sustained | drift).fill_null(False)
    return charted.with_columns(
        (spike | sustained).fill_null(False).alias("spike"),
        sustained.fill_null(False).alias("sustained"),
        (drift | slide).fill_null(False).alias("drift"),
        slide.fill_null(False).alias("slide"),
        early.fill_null(False).alias("early"),
    ).with_columns(
        (pl.col("spike") | pl.col("drift")).alias("flagged"),
        (pl.col("p") - pl.col("p0")).alias("effect"),
        (pl.col("p") / pl.col("p0")).alias("ratio"),
        ((pl.col("bad") - pl.col("p0") * pl.col("n")).clip(0, None)).alias("excess"),
    )


def with_ramp(charted: pl.DataFrame, filled: pl.DataFrame, grain: str) -> tuple[pl.DataFrame, dict]:
    """Each period's slide score (detectors.ramp_score) and the thresholds that judge it.

    Adds ``ramp_z``, ``ramp_rise`` and ``ramp_n`` (the answers scored). By the week these are the
    period's own. By the day (``slide_by = "week"``) they are the last complete calendar week's,
    judged by the weekly thresholds (their ``min_n`` too, not a metric's own): a slide moves by the
    week, and a ramp scored on days raised four to five times the weekly false alarms for no
    earlier warning. A week is known once it is over, so a day carries the score of the week
    before its own: a daily scan sees slides a week after a weekly one, and sees the same slides.
    """
    ramp = slide_thresholds(grain)
    if ramp["grain"] == grain:
        scored = ramp_score(charted, KEYS, ramp.get("slide_lengths", []), ramp["baseline"], ramp["guard"])
        return scored.with_columns(pl.col("n").alias("ramp_n")), ramp
    week = pl.col("period_start").dt.truncate("1w")
    weeks = (
        filled.group_by([*KEYS, week.alias("period_start")])
        .agg(pl.col("bad").sum(), pl.col("n").sum(), pl.len().alias("_days"))
        .filter(pl.col("_days") == 7)  # whole weeks only: a week still in progress is not judged
        .drop("_days")
    )
    judged = proportion_chart(peers(weeks, KEYS), KEYS, ramp["baseline"], ramp["guard"])
    scored = ramp_score(judged, KEYS, ramp.get("slide_lengths", []), ramp["baseline"], ramp["guard"])
    known = scored.select(
        *KEYS,
        (pl.col("period_start") + STEP["week"]).alias("_week"),
        "ramp_z",
        "ramp_rise",
        pl.col("n").alias("ramp_n"),
    )
    days = charted.with_columns(week.alias("_week")).join(known, on=[*KEYS, "_week"], how="left")
    return days.drop("_week").sort([*KEYS, "period_start"]), ramp


def pooled_windows(charted: pl.DataFrame, limits: dict) -> tuple[pl.DataFrame, pl.Expr]:
    """The last few periods pooled (``windows`` of the grain's thresholds): their scores, and whether any is beyond."""
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
    return charted, sustained


def judge_volumes(volumes: pl.DataFrame, grain: str, params: pl.DataFrame) -> pl.DataFrame:
    """Counts against their seasonal baseline: flagged when far, many times and many events above it."""
    limits = rules()["thresholds"][grain]
    filled = fill_periods(volumes, KEYS, EVERY[grain], ["count"])
    counted = volume_chart(filled, KEYS, limits["volume_seasonal_lag"], limits["volume_baseline"], guard=1).join(
        params, on="metric"
    )
    flagged = (
        (pl.col("z") >= limits["spike_z"])
        & (pl.col("ratio") >= pl.col("min_ratio"))
        & ((pl.col("count") - pl.col("expected")) >= pl.col("min_excess"))
    )
    return counted.with_columns(
        flagged.fill_null(False).alias("flagged"),
        flagged.fill_null(False).alias("spike"),
        pl.lit(False).alias("drift"),
        (pl.col("count") - pl.col("expected")).clip(0, None).alias("excess"),
        pl.col("z").alias("z_adj"),
    )


def judge_levels(levels: pl.DataFrame, grain: str, params: pl.DataFrame) -> pl.DataFrame:
    """Durations and backlog on an individuals chart of their logarithm (each weekday on its own at day grain)."""
    limits = rules()["thresholds"][grain]
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
    return leveled.with_columns(
        flagged.fill_null(False).alias("flagged"),
        flagged.fill_null(False).alias("spike"),
        pl.lit(False).alias("drift"),
        # The customers whose tickets waited in a period out of control.
        pl.when(flagged).then(pl.col("n")).otherwise(0.0).alias("excess"),
        pl.col("z").alias("z_adj"),
    )


def flagged_periods(charted: pl.DataFrame, counted: pl.DataFrame, leveled: pl.DataFrame | None) -> pl.DataFrame:
    """The flagged periods of all three kinds in one frame: ``p`` the value, ``p0`` its baseline, ``kind``."""
    columns = [*KEYS, "period_start", "z_adj", "excess", "ratio", "spike", "drift"]
    # Only a proportion's ramp can raise an early warning; other kinds speak with full confidence.
    confident = [pl.lit(False).alias("early"), pl.lit(None, pl.Float64).alias("ramp_z")]
    parts = []
    if not charted.is_empty():
        if "early" not in charted.columns:  # judged without the slide detector: nothing is a warning
            charted = charted.with_columns(confident)
        parts.append(
            charted.filter("flagged").select(
                *columns, "p", "p0", "n", "sustained", pl.lit("proportion").alias("kind"), "early", "ramp_z"
            )
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
                *confident,
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
                *confident,
            )
        )
    if not parts:
        return pl.DataFrame()
    return pl.concat(
        [
            p.with_columns(pl.col(c).cast(pl.Float64) for c in ("p", "p0", "n", "excess", "ratio", "z_adj", "ramp_z"))
            for p in parts
        ]
    )


def episodes(
    charted: pl.DataFrame, counted: pl.DataFrame, grain: str, leveled: pl.DataFrame | None = None
) -> pl.DataFrame:
    """Runs of flagged periods per metric and segment (a single unflagged period does not break a run)."""
    min_run = rules()["thresholds"][grain].get("min_run", 1)
    alone_z = rules()["thresholds"][grain].get("alone_z", float("inf"))
    flagged = flagged_periods(charted, counted, leveled)
    if not flagged.columns:
        return pl.DataFrame()
    gap = (pl.col("period_start") - pl.col("period_start").shift(1)).over(KEYS)
    # An early warning bridges no quiet period: a weak ramp that comes and goes for months would
    # otherwise date (and type) the next real crisis of its place from its first flicker.
    after_warning = pl.col("early").shift(1).over(KEYS).fill_null(False)
    broken = gap.is_null() | (gap > STEP[grain] * 2) | ((gap > STEP[grain]) & after_warning)
    flagged = flagged.sort([*KEYS, "period_start"]).with_columns(broken.cum_sum().over(KEYS).alias("episode"))
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
            # An early warning until a period flags it with full confidence (then it is confirmed).
            pl.col("early").all().alias("early"),
            pl.col("period_start").filter(~pl.col("early")).min().alias("confirmed"),
            pl.col("ramp_z").max().alias("peak_ramp_z"),
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


def judged_series(
    con: duckdb.DuckDBPyConnection, settings: Settings, metric_name: str, dimension: str, segment: str, grain: str
) -> tuple[pl.DataFrame, str]:
    """One watched metric in one segment as the radar judged it, in the KPI's own units, and the method used.

    One row per complete period: ``value``, ``centre`` (the trailing baseline), ``limit`` (the
    control limit on the bad side: below the centre for CSAT and SLA attainment, above it for
    complaints, durations and volumes), ``flag_limit`` (the line a single period must cross to be
    flagged: the spike score and the material change together, so a chart draws the limit the
    radar used, not the three-sigma one), ``flagged``, ``signal`` (which rule flagged it: limit,
    sustained, drift or slide) and, for proportions, ``rules`` (the Western Electric rules
    broken). The text names the chart, and for a proportion whether the observed variation made
    it a Laney p' chart.
    """
    spec = scanned_metric(metric_name)
    # The whole dimension, not a filter on the segment: the daily KPI cube answers that, and a segment's
    # control limits depend only on its own series.
    proportions, volumes, levels = scanned_series(con, settings, grain, [spec], [dimension])
    charted, counted, leveled = judge(proportions, volumes, grain, levels)
    judged = {"proportion": charted, "volume": counted, "level": leveled}[spec["kind"]]
    if judged.is_empty():
        return pl.DataFrame(), ""
    judged = judged.filter(pl.col("segment") == segment).sort("period_start")
    if spec["kind"] == "proportion":
        return proportion_series(judged, spec, grain)
    limits = rules()["thresholds"][grain]
    if spec["kind"] == "level":
        # ucl is three sigmas of the logarithm above the usual level; the radar asks level_z of them
        # and a value min_ratio times the usual.
        spike_line = pl.col("expected") * (pl.col("ucl") / pl.col("expected")) ** (limits["level_z"] / 3)
        frame = judged.select(
            "period_start", "value", pl.col("expected").alias("centre"), pl.col("ucl").alias("limit"),
            pl.max_horizontal(spike_line, pl.col("expected") * pl.col("min_ratio")).alias("flag_limit"),
        )  # fmt: skip
        method = "XmR chart of the logarithm (robust limits)" + (
            ", each weekday against earlier ones" if grain == "day" else ""
        )
    else:
        spread = (pl.col("expected").clip(1, None) * pl.col("dispersion")).sqrt()
        frame = judged.select(
            "period_start", pl.col("count").alias("value"), pl.col("expected").alias("centre"),
            (pl.col("expected") + limits["spike_z"] * spread).alias("limit"),
            pl.max_horizontal(
                pl.col("expected") + limits["spike_z"] * spread, pl.col("expected") * pl.col("min_ratio"),
                pl.col("expected") + pl.col("min_excess"),
            ).alias("flag_limit"),
        )  # fmt: skip
        method = "counts against the same " + (
            "weekday of the previous eight weeks" if grain == "day" else "previous eight weeks"
        )
    signal = pl.when(pl.col("flagged")).then(pl.lit("limit"))
    return frame.with_columns(judged["flagged"], pl.lit(None, pl.String).alias("rules")).with_columns(
        signal.alias("signal")
    ), method


def proportion_series(judged: pl.DataFrame, spec: dict, grain: str) -> tuple[pl.DataFrame, str]:
    """A judged proportion in the KPI's own direction (satisfied shares flipped back), and its chart's name."""
    flip = spec["bad"] == "complement"
    kpi = (lambda c: 1 - pl.col(c)) if flip else pl.col
    broken = pl.concat_str(
        [pl.when(pl.col(f"rule_{r}")).then(pl.lit(str(r))) for r in (1, 2, 3, 4)], separator=", ", ignore_nulls=True
    )
    spike_z = rules()["thresholds"][grain]["spike_z"]
    # ucl is three (Laney-widened) sigmas above the baseline; a spike needs spike_z of them and a material rise.
    spike_line = pl.max_horizontal(
        pl.col("p0") + (pl.col("ucl") - pl.col("p0")) * spike_z / 3,
        pl.col("p0") + pl.col("min_rise"),
        pl.col("p0") * pl.col("min_ratio"),
    )
    # The rule that flagged the period, the strongest first: a drift or a pooled run can flag a
    # period inside the spike line, and the chart says so rather than leave a dot unexplained.
    signal = (
        pl.when(~pl.col("flagged"))
        .then(pl.lit(None, pl.String))
        .when(pl.col("spike") & ~pl.col("sustained"))
        .then(pl.lit("limit"))
        .when(pl.col("spike"))
        .then(pl.lit("sustained"))
        .when(pl.col("slide"))
        .then(pl.lit("slide"))
        .otherwise(pl.lit("drift"))
    )
    frame = judged.with_columns(spike_line.alias("_flag_line")).select(
        "period_start", kpi("p").alias("value"), kpi("p0").alias("centre"), kpi("ucl").alias("limit"),
        kpi("_flag_line").alias("flag_limit"), "flagged", signal.alias("signal"), broken.alias("rules"),
    )  # fmt: skip
    dispersion = judged["sigma_z"].drop_nulls().drop_nans()
    ratio = float(dispersion[-1]) if dispersion.len() else 1.0
    method = (
        f"Laney p' chart: observed variation {ratio:.1f}x what binomial sampling allows, limits widened"
        if ratio > 1
        else f"p-chart: observed variation {ratio:.1f}x binomial, limits from each period's own sample size"
    )
    slides = ", and a ramp score against its peers for slow slides" if spec.get("slide") else ""
    return frame, method + "; Western Electric rules 1-4, EWMA and binomial CUSUM on top" + slides
