"""95% intervals of KPI values: Wilson for shares, t for means, normal for NPS, order statistics for quantiles.

Grain: one row per metric, period and segment in, the same rows out with ``value``, ``ci_low``,
``ci_high`` and ``n``; the quantiles' ranks are SQL, read by the compiler and the cube alike.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy import stats

from metrics.kpis.catalog import Metric

Z95 = 1.959963984540054


def order_statistic_ranks(n: str, q: float) -> dict[str, str]:
    """SQL for the ranks, among ``n`` sorted values (an SQL expression), of quantile ``q`` and its 95% interval.

    The value is the one at ceil(n q); the interval runs between the order statistics
    n q -/+ 1.96 sqrt(n q (1 - q)), which needs no assumption about the distribution.
    """
    spread = f"{Z95} * sqrt({n} * {q} * (1 - {q}))"
    return {
        "value": f"greatest(1, ceil({n} * {q}))",
        "ci_low": f"greatest(1, floor({n} * {q} - {spread}))",
        "ci_high": f"least({n}, ceil({n} * {q} + {spread}) + 1)",
    }


def wilson(k: pl.Expr, n: pl.Expr, bound: str) -> pl.Expr:
    """The Wilson score interval's ``bound`` ("low" or "high") of the share ``k`` of ``n``."""
    p = k / n
    z2 = Z95**2
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z95 * ((p * (1 - p) / n + z2 / (4 * n * n)).sqrt()) / (1 + z2 / n)
    value = centre - half if bound == "low" else centre + half
    return pl.when((n > 0) & (k <= n)).then(value.clip(0, 1))


def values_and_intervals(m: Metric, raw: pl.DataFrame) -> pl.DataFrame:
    """Values and 95% intervals from the aggregated counts of one metric."""
    if m.kind in ("proportion", "ratio"):
        multiplier = float(m.fields.get("multiplier", 1))
        k, n = pl.col("numerator"), pl.col("denominator")
        return raw.with_columns(
            pl.when(n > 0).then(k / n * multiplier).alias("value"),
            (wilson(k, n, "low") * multiplier).alias("ci_low"),
            (wilson(k, n, "high") * multiplier).alias("ci_high"),
            n.cast(pl.Int64).alias("n"),
        )
    if m.kind == "count":
        return raw.with_columns(pl.col("value").cast(pl.Int64).alias("n"))
    if m.kind == "mean":
        n = pl.col("n")
        t_crit = pl.Series(stats.t.ppf(0.975, np.maximum(raw["n"].to_numpy() - 1, 1)))
        half = pl.lit(t_crit) * pl.col("sd") / n.cast(pl.Float64).sqrt()
        return raw.with_columns(
            pl.when(n > 1).then(pl.col("value") - half).alias("ci_low"),
            pl.when(n > 1).then(pl.col("value") + half).alias("ci_high"),
        ).drop("sd")
    if m.kind == "nps":
        n = pl.col("n").cast(pl.Float64)
        promoters, detractors = pl.col("promoters") / n, pl.col("detractors") / n
        score = promoters - detractors
        half = Z95 * ((promoters + detractors - score**2) / n).sqrt()
        return raw.with_columns(
            score.alias("value"),
            (score - half).clip(-1, 1).alias("ci_low"),
            (score + half).clip(-1, 1).alias("ci_high"),
            pl.col("promoters").alias("numerator"),
        ).drop("promoters", "detractors")
    if m.kind == "backlog":
        return raw.with_columns(
            pl.col("n").cast(pl.Int64) if "n" in raw.columns else pl.col("value").cast(pl.Int64).alias("n")
        )
    return raw


def means_from_sums(m: Metric, raw: pl.DataFrame) -> pl.DataFrame:
    """A mean's value and standard deviation from the sums the cube's SQL keeps, as the raw SQL gives them."""
    if m.kind != "mean" or "value_sum" not in raw.columns:
        return raw
    n = pl.col("n").cast(pl.Float64)
    variance = (pl.col("value_sum_squares") - pl.col("value_sum") ** 2 / n) / (n - 1)
    return raw.with_columns(
        pl.when(n > 0).then(pl.col("value_sum") / n).alias("value"),
        pl.when(n > 1).then(variance.clip(lower_bound=0).sqrt()).alias("sd"),
    ).drop("value_sum", "value_sum_squares")
