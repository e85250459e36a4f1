"""Which segments drive a change: each segment's own change and the change of the mix, ranked and tested.

Grain: one ``Contributor`` per segment of every other contributor dimension, for one metric
in one place over one crisis window.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import date, timedelta

import duckdb
import numpy as np
import polars as pl
from scipy import stats

from metrics.crises.rules import STEP, rules, scanned_metric
from metrics.crises.series import bad_events
from metrics.kpis.compute import compute_dimensions
from metrics.kpis.dimensions import segments_that_exist
from metrics.kpis.settings import Settings
from metrics.kpis.trends import change_p_values

# A contributor's place: a segment of one breakdown dimension.
KEY = ["dimension", "segment"]
COLUMNS = ["contribution", "rate_effect", "mix_effect", "p_value", "weight"]
# What a cause in words quotes besides: each side's value and size, the place's value on each side,
# and the count that decides whether a segment is tested at all.
SIDES = ["before", "during", "n_before", "n_during", "place_before", "place_during", "events"]


@dataclass(frozen=True)
class Contributor:
    """One segment's part in a change: ``contribution`` = ``rate_effect`` (own change) + ``mix_effect``.

    ``share`` is its part of its dimension's total change and ``weight`` its share of the
    baseline's trials (None when undefined); ``q_value`` the Benjamini-Hochberg adjusted p-value
    over the segments ``tested`` (1 for one with too few events to test).

    ``before``/``during`` are the segment's own value in the baseline and the crisis window (the
    bad share of a rate, the level of a duration, the count of a volume per window) over
    ``n_before``/``n_during`` trials; ``place_before``/``place_during`` the same for the whole
    place; ``significant_in_dimension`` how many segments of its dimension rose significantly.
    """

    dimension: str
    segment: str
    contribution: float
    share: float | None
    rate_effect: float
    mix_effect: float
    weight: float | None
    q_value: float
    significant: bool
    p_value: float | None = None
    tested: bool = True
    before: float | None = None
    during: float | None = None
    n_before: float | None = None
    n_during: float | None = None
    place_before: float | None = None
    place_during: float | None = None
    significant_in_dimension: int = 0

    def as_dict(self) -> dict:
        """The contributor as the crisis log and ``crises --json`` store it."""
        return asdict(self)


class Breakdowns:
    """A place's metric by every other contributor dimension, period by period: queried once per place in a scan.

    A scan explains a hundred or more candidates, often several of one place and metric whose
    windows overlap. Every KPI is computed period by period (a period's value does not depend on
    the range asked for), so one query over the union of the windows a place needs serves each
    of them: ``want`` the windows first, then ``between`` filters one out. A window outside what
    was queried widens the query once more. Only the place asked last is held.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, settings: Settings, grain: str) -> None:
        self.con, self.settings, self.grain = con, settings, grain
        self.spans: dict[tuple[str, str, str], tuple[date, date]] = {}
        self.frames: dict[tuple[str, str, str], tuple[date, date, pl.DataFrame]] = {}

    def want(self, metric_name: str, dimension: str, segment: str, date_from: date, date_to: date) -> None:
        """Say a window will be asked for, so the place's one query covers it."""
        key = (metric_name, dimension, segment)
        low, high = self.spans.get(key, (date_from, date_to))
        self.spans[key] = (min(low, date_from), max(high, date_to))

    def between(self, metric_name: str, dimension: str, segment: str, date_from: date, date_to: date) -> pl.DataFrame:
        """The place's rows by every other contributor dimension for the periods from ``date_from`` to ``date_to``."""
        key = (metric_name, dimension, segment)
        self.want(metric_name, dimension, segment, date_from, date_to)
        held = self.frames.get(key)
        if held is None:
            # One place's frame at a time (a whole history's days by every agent is tens of megabytes
            # at ten million tickets): callers ask place by place (``fold_echoes`` sorts them so).
            self.frames.clear()
        if held is None or held[0] > date_from or held[1] < date_to:
            low, high = self.spans[key]
            filters = () if dimension == "overall" else ((dimension, (segment,)),)
            by = tuple(d for d in rules()["scan"]["contributor_dimensions"] if d != dimension)
            every = compute_dimensions(self.con, metric_name, self.grain, self.settings, by, low, high, filters)
            held = self.frames[key] = (low, high, every)
        return held[2].filter(pl.col("period_start").is_between(date_from, date_to))


def window(start: date, last: date, grain: str) -> tuple[date, date, int]:
    """A crisis window's baseline: its first day, the window's last day, and the baseline's length in days.

    The baseline is the periods just before the window: four times its length, and at least
    ``[contributors] baseline_days``, in whole periods so each side holds only whole periods.
    """
    step = STEP[grain]
    window_days = (last - start).days + step.days
    # At least a quarter before: four weeks before a one-week crisis may hold another crisis of the
    # same place (or this one's build-up), and the sentence then said its rate "did not worsen".
    base_days = max(4 * window_days, rules()["contributors"]["baseline_days"])
    base_days -= base_days % step.days
    return start - timedelta(days=base_days), last + step - timedelta(days=1), base_days


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
    breakdowns: Breakdowns | None = None,
) -> list[Contributor]:
    """Which segments drive a change: each segment's own rate change and the change of the mix, ranked.

    The crisis window is compared with the periods just before it (``window``). For rates, the
    change splits exactly into sum(mean weight x rate change) and sum(mean rate x weight
    change); each segment gets a two-proportion test and the p-values are Benjamini-Hochberg
    adjusted across all segments compared. Levels (durations, backlog) split the same way, each
    segment's level weighted by its tickets and tested with Welch's t on its periods' log
    levels; volumes split into each segment's extra count. ``breakdowns``: a scan's shared
    queries (one is made for this call alone when not given).
    """
    base_from, end, base_days = window(start, last, grain)
    window_days = (end - start).days + 1  # the days from the window's first to its last, both included
    breakdowns = breakdowns or Breakdowns(con, settings, grain)
    spec = scanned_metric(metric_name)
    every = breakdowns.between(metric_name, dimension, segment, base_from, end)
    # A dimension the data does not record would name its blank "(none)" as the whole change's driver.
    every = segments_that_exist(every, "value")
    # The rows come out of DuckDB's grouping in no set order: sorted, every float sum below adds in one order.
    every = every.sort("dimension", "segment", "period_start")
    by = [d for d in rules()["scan"]["contributor_dimensions"] if d != dimension]
    windowed = every.filter(pl.col("dimension").is_in(by)).with_columns(
        pl.when(pl.col("period_start") >= start).then(pl.lit("now")).otherwise(pl.lit("before")).alias("window")
    )
    if windowed.is_empty():
        return []
    # Every breakdown dimension at once, each its own family of segments (sums and shares per dimension).
    wide = (
        volume_effects(windowed, base_days / window_days) if spec["kind"] == "volume" else share_effects(windowed, spec)
    )
    if wide is None:
        return []
    rows = wide.select(*KEY, *COLUMNS, *SIDES).cast({c: pl.Float64 for c in ("weight", *SIDES)})
    return ranked([rows], limit)


def volume_effects(windowed: pl.DataFrame, ratio: float = 4.0) -> pl.DataFrame:
    """Per segment: the extra count over its baseline scaled to the window (``ratio`` times shorter), Poisson test."""
    totals = windowed.group_by(*KEY, "window").agg(pl.col("value").sum().alias("count"))
    wide = totals.pivot(on="window", index=KEY, values="count").fill_null(0).sort(KEY)
    for column in ("now", "before"):
        if column not in wide.columns:
            wide = wide.with_columns(pl.lit(0.0).alias(column))
    wide = wide.with_columns((pl.col("before") / ratio).alias("expected"))
    wide = wide.with_columns((pl.col("now") - pl.col("expected")).alias("contribution"))
    expected = wide["expected"].to_numpy()
    observed = wide["now"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        p_values = 2 * stats.norm.sf(np.abs(observed - expected) / np.sqrt(np.maximum(expected, 1)))
    return wide.with_columns(
        pl.lit(p_values).alias("p_value"),
        pl.lit(0.0).alias("rate_effect"),
        pl.col("contribution").alias("mix_effect"),
        (pl.col("before") / pl.col("before").sum().over("dimension")).alias("weight"),
        (pl.col("now") + pl.col("before")).alias("events"),
        pl.col("before").alias("n_before"),
        pl.col("now").alias("n_during"),
        pl.col("expected").sum().over("dimension").alias("place_before"),
        pl.col("now").sum().over("dimension").alias("place_during"),
    ).with_columns(pl.col("expected").alias("before"), pl.col("now").alias("during"))


def share_effects(windowed: pl.DataFrame, spec: dict) -> pl.DataFrame | None:
    """Per segment of a rate or level: its own change (rate effect) and its change of weight (mix effect)."""
    wide = level_sides(windowed) if spec["kind"] == "level" else rate_sides(windowed, spec)
    if wide is None:
        return None
    n0_total, n1_total = pl.col("n0").sum().over("dimension"), pl.col("n1").sum().over("dimension")
    w0, w1 = pl.col("n0") / n0_total, pl.col("n1") / n1_total
    return wide.with_columns(
        (((w0 + w1) / 2) * (pl.col("p1") - pl.col("p0"))).alias("rate_effect"),
        (((pl.col("p0") + pl.col("p1")) / 2) * (w1 - w0)).alias("mix_effect"),
        pl.col("p0").alias("before"),
        pl.col("p1").alias("during"),
        pl.col("n0").alias("n_before"),
        pl.col("n1").alias("n_during"),
        # A segment seen on neither side has no rate (NaN) and no weight in the place's value.
        ((pl.col("p0") * pl.col("n0")).fill_nan(0.0).sum().over("dimension") / n0_total).alias("place_before"),
        ((pl.col("p1") * pl.col("n1")).fill_nan(0.0).sum().over("dimension") / n1_total).alias("place_during"),
    ).with_columns((pl.col("rate_effect") + pl.col("mix_effect")).alias("contribution"), w0.alias("weight"))


def ranked(rows: list[pl.DataFrame], limit: int) -> list[Contributor]:
    """The ``limit`` largest positive contributions, with q-values across every segment tested."""
    # Segments with no observations on one side (e.g. complaint causes that tickets do not have) explain nothing.
    # Sorted first: the segments come out of group-bys in no set order, and both the float sums
    # below and the ranking of equal contributions must not change from one run to the next.
    settings = rules()["contributors"]
    compared = (
        pl.concat(rows)
        .sort("dimension", "segment")
        .with_columns(pl.col(c).fill_nan(None) for c in ("contribution", "rate_effect", "mix_effect", "p_value"))
        .drop_nulls(["contribution"])
        .with_columns(
            (pl.col("p_value").is_not_null() & (pl.col("events") >= settings["min_events_to_test"])).alias("tested")
        )
    )
    # Only the segments tested form the family the adjusted p-values control (see crisis_rules.toml).
    tested = compared.filter("tested")
    q_values = pl.DataFrame(
        {
            "dimension": tested["dimension"],
            "segment": tested["segment"],
            "q_value": benjamini_hochberg(tested["p_value"].to_numpy()),
        }
    )
    compared = compared.join(q_values, on=["dimension", "segment"], how="left").with_columns(
        pl.col("q_value").fill_null(1.0)
    )
    compared = compared.with_columns(
        (pl.col("contribution") / pl.col("contribution").sum().over("dimension")).alias("share"),
        (pl.col("tested") & (pl.col("q_value") <= settings["max_q"])).alias("significant"),
    ).with_columns(
        (pl.col("significant") & (pl.col("contribution") > 0)).sum().over("dimension").alias("significant_in_dimension")
    )
    # Equal contributions (a category and the one team that handles it are the same tickets) differ
    # only in the last bits of their sums: rounded, they rank by name, whatever order summed them.
    top = (
        compared.filter(pl.col("contribution") > 0)
        .sort([pl.col("contribution").round(12), "dimension", "segment"], descending=[True, False, False])
        .head(limit)
    )
    return [contributor(r) for r in top.iter_rows(named=True)]


def contributor(r: dict) -> Contributor:
    """One ranked row as a ``Contributor``."""
    return Contributor(
        dimension=r["dimension"],
        segment=r["segment"],
        contribution=float(r["contribution"]),
        share=number_or_none(r["share"]),
        rate_effect=float(r["rate_effect"]),
        mix_effect=float(r["mix_effect"]),
        weight=number_or_none(r["weight"]),
        q_value=float(r["q_value"]),
        significant=bool(r["significant"]),
        p_value=number_or_none(r["p_value"]),
        tested=bool(r["tested"]),
        **{k: number_or_none(r[k]) for k in SIDES if k != "events"},
        significant_in_dimension=int(r["significant_in_dimension"]),
    )


def number_or_none(value: float | None) -> float | None:
    """A float, or None for a missing or undefined (NaN) one."""
    return None if value is None or math.isnan(value) else float(value)


def rate_sides(windowed: pl.DataFrame, spec: dict) -> pl.DataFrame | None:
    """Per segment: bad share before (p0, of n0) and now (p1, of n1), with a two-proportion test."""
    totals = windowed.group_by(*KEY, "window").agg(
        bad_events(spec).sum().alias("k"), pl.col("denominator").sum().alias("n")
    )
    wide = sides(totals, ["k", "n"])
    if wide.is_empty():
        return None
    p0 = pl.when(pl.col("n0") > 0).then(pl.col("k0") / pl.col("n0")).otherwise(pl.col("k1") / pl.col("n1"))
    p1 = pl.when(pl.col("n1") > 0).then(pl.col("k1") / pl.col("n1")).otherwise(p0)
    p_values = change_p_values(
        wide["n0"].to_numpy(), wide["k0"].to_numpy(), wide["n1"].to_numpy(), wide["k1"].to_numpy()
    )
    return wide.with_columns(
        p0.alias("p0"), p1.alias("p1"), pl.lit(p_values).alias("p_value"), (pl.col("k0") + pl.col("k1")).alias("events")
    )


def level_sides(windowed: pl.DataFrame) -> pl.DataFrame | None:
    """Per segment: ticket-weighted level before (p0) and now (p1), with Welch's test on the periods' log levels.

    A median does not add up over segments the way a count does; weighting each segment's level
    by its tickets makes the split into own change and mix exact for the weighted level, which
    is what the ranking needs.
    """
    valued = windowed.filter(pl.col("value") > 0).with_columns(
        pl.col("value").log().alias("log_value"), pl.col("n").cast(pl.Float64).fill_null(0.0)
    )
    totals = valued.group_by(*KEY, "window").agg(
        ((pl.col("value") * pl.col("n")).sum() / pl.col("n").sum()).alias("level"),
        pl.col("n").sum(),
        pl.col("log_value").mean().alias("mean_log"),
        pl.col("log_value").var().fill_null(0.0).alias("var_log"),
        pl.len().cast(pl.Float64).alias("periods"),
    )
    wide = sides(totals, ["level", "n", "mean_log", "var_log", "periods"])
    if wide.is_empty():
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
    return wide.with_columns(
        p0.alias("p0"), p1.alias("p1"), pl.lit(p_values).alias("p_value"), (pl.col("n0") + pl.col("n1")).alias("events")
    )


def sides(totals: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """One row per segment with each column for the baseline (suffix 0) and the crisis window (suffix 1).

    A dimension with no trials on one side compares nothing, and is left out.
    """
    before = totals.filter(pl.col("window") == "before").select(*KEY, *(pl.col(c).alias(f"{c}0") for c in columns))
    now = totals.filter(pl.col("window") == "now").select(*KEY, *(pl.col(c).alias(f"{c}1") for c in columns))
    wide = now.join(before, on=KEY, how="full", coalesce=True).fill_null(0).sort(KEY)
    return wide.filter((pl.col("n0").sum().over("dimension") > 0) & (pl.col("n1").sum().over("dimension") > 0))


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
