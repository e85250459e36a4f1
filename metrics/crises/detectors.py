"""Statistical detectors for KPI series: frame in, frame out, one series per key, periods in order.

All detectors look one way: at the *bad* side of a KPI (dissatisfied answers, complaints,
SLA breaches, reopens, volume). A proportion series carries ``bad`` (events) and ``n``
(trials); a volume series carries ``count``. Every baseline uses only periods before the
one judged, leaving a guard gap so a crisis that builds up does not hide in its own baseline.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy import stats

# d2 for moving ranges of two: converts the mean moving range into a standard deviation.
D2 = 1.128
# The same for the median moving range (Wheeler), which an outlying baseline period barely moves.
MEDIAN_MR_TO_SIGMA = 0.954
# A normal distribution's interquartile range in standard deviations.
IQR_TO_SIGMA = 1.349


def fill_periods(frame: pl.DataFrame, keys: list[str], every: str, value_columns: list[str]) -> pl.DataFrame:
    """One row per key and period from the key's first to its last period; missing counts are 0."""
    spans = frame.group_by(keys).agg(
        pl.col("period_start").min().alias("first"), pl.col("period_start").max().alias("last")
    )
    grid = spans.with_columns(pl.date_ranges("first", "last", interval=every).alias("period_start")).explode(
        "period_start"
    )
    return (
        grid.drop("first", "last")
        .join(frame, on=[*keys, "period_start"], how="left")
        .with_columns(pl.col(c).fill_null(0) for c in value_columns)
        .sort([*keys, "period_start"])
    )


def proportion_chart(
    series: pl.DataFrame, keys: list[str], baseline: int = 26, guard: int = 2, min_baseline: int = 8
) -> pl.DataFrame:
    """p-chart and Laney p' statistics for the bad share of each period, against the trailing baseline.

    Adds ``p`` (bad share), ``p0`` (baseline share), ``n0`` (baseline trials), ``z`` (the
    textbook binomial standard score), ``z_tail`` (see ``upper_tail_score``), ``sigma_z``
    (observed over binomial variation in the baseline, from moving ranges), ``z_adj`` (Laney's
    z' of the tail score, equal to it unless the series is overdispersed), ``ucl``/``lcl``
    (three-sigma limits, Laney-widened when overdispersed) and ``chart`` ("p" or "Laney p'").
    """
    lag = 1 + guard

    def trailing(column: str) -> pl.Expr:
        return pl.col(column).shift(lag).rolling_sum(baseline, min_samples=min_baseline).over(keys)

    with_baseline = series.sort([*keys, "period_start"]).with_columns(
        (pl.col("bad") / pl.col("n")).alias("p"),
        (trailing("bad") / trailing("n")).alias("p0"),
        trailing("n").alias("n0"),
    )
    binomial_sd = (pl.col("p0") * (1 - pl.col("p0")) / pl.col("n")).sqrt()
    scored = with_baseline.with_columns(((pl.col("p") - pl.col("p0")) / binomial_sd).alias("z"))
    scored = scored.with_columns(upper_tail_score(scored, "bad", "n").alias("z_tail"))
    moving_range = (pl.col("z") - pl.col("z").shift(1)).abs().over(keys)
    scored = scored.with_columns(moving_range.alias("_mr")).with_columns(
        (pl.col("_mr").shift(lag).rolling_mean(baseline, min_samples=min_baseline).over(keys) / D2).alias("sigma_z")
    )
    widen = pl.max_horizontal(pl.col("sigma_z").fill_null(1.0), pl.lit(1.0))
    return scored.with_columns(
        (pl.col("z_tail") / widen).alias("z_adj"),
        (pl.col("p0") + 3 * binomial_sd * widen).alias("ucl"),
        (pl.col("p0") - 3 * binomial_sd * widen).clip(0, None).alias("lcl"),
        pl.when(pl.col("sigma_z") > 1).then(pl.lit("Laney p'")).otherwise(pl.lit("p")).alias("chart"),
    ).drop("_mr")


def upper_tail_score(
    frame: pl.DataFrame, bad: str, n: str, normal: str = "z", p0: str = "p0", n0: str = "n0"
) -> pl.Series:
    """The standard score with the same upper-tail probability as the exact binomial tail P(X >= bad).

    The normal score overstates rare events: 3 events where 0.13 were expected score 7.9, yet
    happen by chance once in 3,000 periods. Above the baseline the exact tail is used; at or
    below it (and for fractional counts) the normal score. A baseline of zero events counts as
    half an event, so one event is not infinitely surprising.
    """
    k = frame[bad].to_numpy().astype(np.float64)
    textbook = frame[normal].to_numpy().astype(np.float64)
    trials = frame[n].to_numpy().astype(np.float64)
    baseline_n = frame[n0].to_numpy().astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.maximum(frame[p0].to_numpy().astype(np.float64), 0.5 / baseline_n)
        whole = (k == np.round(k)) & (trials == np.round(trials)) & (k / trials > p) & np.isfinite(p)
        tail = stats.binom.sf(np.where(whole, k, 1) - 1, np.where(whole, trials, 1), np.where(whole, p, 0.5))
        exact = np.clip(stats.norm.isf(tail), None, 38.0)
    return pl.Series(np.where(whole, exact, textbook), dtype=pl.Float64).fill_nan(None)


def western_electric(frame: pl.DataFrame, keys: list[str], score: str = "z_adj") -> pl.DataFrame:
    """Western Electric rules 1-4 on the bad side of a standardised score.

    1: one point beyond 3 sigma; 2: two of three beyond 2; 3: four of five beyond 1;
    4: eight in a row above the centre line.
    """
    z = pl.col(score).fill_nan(None).fill_null(0.0)

    def count_in_window(condition: pl.Expr, window: int) -> pl.Expr:
        return condition.cast(pl.Int32).rolling_sum(window, min_samples=1).over(keys)

    return frame.with_columns(
        (z > 3).alias("rule_1"),
        (count_in_window(z > 2, 3) >= 2).alias("rule_2"),
        (count_in_window(z > 1, 5) >= 4).alias("rule_3"),
        (count_in_window(z > 0, 8) >= 8).alias("rule_4"),
    )


def ewma(frame: pl.DataFrame, keys: list[str], score: str = "z_adj", weight: float = 0.2) -> pl.DataFrame:
    """EWMA of the standardised score, with its asymptotic three-sigma limit (``ewma_limit``)."""
    limit = 3 * (weight / (2 - weight)) ** 0.5
    return frame.with_columns(
        pl.col(score).fill_nan(None).fill_null(0.0).ewm_mean(alpha=weight, adjust=False).over(keys).alias("ewma"),
        pl.lit(limit).alias("ewma_limit"),
    )


def binomial_cusum(frame: pl.DataFrame, keys: list[str], shift: pl.Expr, min_p0: float = 0.005) -> pl.DataFrame:
    """Upper binomial CUSUM of bad events: the log-likelihood ratio of a shifted share against the baseline.

    ``shift`` gives the out-of-control share p1 for each row from its baseline p0. Page's
    recursion S = max(0, S + llr) is computed without a loop as cumsum(llr) minus its running
    minimum (floored at 0).
    """
    p0 = pl.col("p0").clip(min_p0, 1 - min_p0)
    p1 = shift.clip(min_p0, 1 - min_p0)
    llr = pl.col("bad") * (p1 / p0).log() + (pl.col("n") - pl.col("bad")) * ((1 - p1) / (1 - p0)).log()
    scored = frame.with_columns(pl.when(pl.col("p0").is_not_null()).then(llr).otherwise(0.0).alias("llr"))
    total = pl.col("llr").cum_sum().over(keys)
    running_min = pl.min_horizontal(pl.col("llr").cum_sum().cum_min().over(keys), pl.lit(0.0))
    return scored.with_columns((total - running_min).alias("cusum"))


def peers(series: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """Each segment's peers: the bad events and trials of the rest of its dimension in the same period.

    ``keys`` end with the segment; the rest is the dimension's total less the segment itself
    (nothing for a dimension of one segment, like the whole organisation). Adds ``bad_rest`` and
    ``n_rest``.
    """
    group = [*keys[:-1], "period_start"]
    return series.with_columns(
        (pl.col("bad").sum().over(group) - pl.col("bad")).alias("bad_rest"),
        (pl.col("n").sum().over(group) - pl.col("n")).alias("n_rest"),
    )


def ramp_score(
    frame: pl.DataFrame, keys: list[str], lengths: list[int], baseline: int = 26, guard: int = 2, min_p0: float = 0.005
) -> pl.DataFrame:
    """Matched filter for a slow slide: one segment's bad share climbing linearly since a recent period.

    A slide of about a point a week is a ramp, not a step: the shift it adds grows with every
    period, so a CUSUM tuned to one step size is either slow (tuned to the late, large shift) or
    noisy (tuned to the early, small one). For a ramp that began ``length`` periods ago the
    likelihood-ratio statistic (normal approximation of the binomial) weighs each period's excess
    bad events by how far the ramp should have carried it by then (0.5, 1.5, ... periods of
    slope); standardised, it is a score whatever the slope, and its maximum over the candidate
    ``lengths`` is the generalised likelihood ratio for a ramp of unknown start (the idea of
    Reynolds and Stoumbos's trend charts; unlike Mann-Kendall it uses each period's sample size).

    The excess is measured against the segment's own baseline (of the ramp's first period, which
    ends before it, guard included) moved by what its peers did since (``bad_rest``/``n_rest``,
    see ``peers``): a season that lowers every product's CSAT is no slide in any of them, while a
    slide in one product leaves the others where they were. So the score needs peers; a series
    without any (the whole organisation) scores nothing here and is left to the CUSUM. Scores
    are divided by the Laney factor ``sigma_z`` like the others.

    Adds ``ramp_z`` (the largest standardised score) and ``ramp_rise`` (the rise in the bad share,
    beyond the peers', that the best-fitting ramp has reached by the period judged).
    """
    if not lengths:
        return frame.with_columns(pl.lit(None, pl.Float64).alias("ramp_z"), pl.lit(None, pl.Float64).alias("ramp_rise"))
    lag = 1 + guard

    def trailing(column: str) -> pl.Expr:
        return pl.col(column).shift(lag).rolling_sum(baseline, min_samples=8).over(keys)

    p_rest = pl.when(pl.col("n_rest") > 0).then(pl.col("bad_rest") / pl.col("n_rest"))
    ordered = (
        frame.sort([*keys, "period_start"])
        .with_columns(
            pl.when(trailing("n_rest") > 0).then(trailing("bad_rest") / trailing("n_rest")).alias("_p0_rest"),
            pl.int_range(pl.len()).over(keys).cast(pl.Float64).alias("_i"),
        )
        .with_columns(
            # The peers' bad events at the segment's size; with no peers this period, their baseline.
            (pl.col("n") * p_rest.fill_null(pl.col("_p0_rest"))).alias("_n_p_rest"),
            # The peers' share is itself a sample: its noise adds in proportion to the segment's size.
            (pl.col("n") * (1 + pl.col("n") / pl.col("n_rest").clip(1, None))).alias("_n_var"),
        )
    )
    widen = pl.max_horizontal(pl.col("sigma_z").fill_null(1.0).fill_nan(1.0), pl.lit(1.0))
    scores, rises = [], []
    for length in lengths:
        # Weights grow by one per period from 0.5 at the ramp's first: w_i = i - first + 0.5. The
        # weighted sums over the window come from rolling sums of x, i*x and i*i*x (no row loop).
        first = pl.col("_i") - (length - 1) - 0.5

        def rolling(expr: pl.Expr, length: int = length) -> pl.Expr:
            return expr.rolling_sum(length, min_samples=length).over(keys)

        def weighted(column: str, squared: bool = False, first: pl.Expr = first) -> pl.Expr:
            x, i = pl.col(column), pl.col("_i")
            if not squared:
                return rolling(i * x) - first * rolling(x)
            return rolling(i * i * x) - 2 * first * rolling(i * x) + first * first * rolling(x)

        p0 = pl.col("p0").shift(length - 1).over(keys).clip(min_p0, 1 - min_p0)
        p0_rest = pl.col("_p0_rest").shift(length - 1).over(keys)
        excess = weighted("bad") - p0 * weighted("n") - (weighted("_n_p_rest") - p0_rest * weighted("n"))
        information = weighted("n", squared=True)
        score = excess / (weighted("_n_var", squared=True) * p0 * (1 - p0)).sqrt() / widen
        scores.append(pl.when(information > 0).then(score).fill_nan(None).alias(f"_ramp_z_{length}"))
        rises.append((excess / information * (length - 0.5)).alias(f"_ramp_rise_{length}"))
    scored = ordered.with_columns(*scores, *rises).with_columns(
        pl.max_horizontal([f"_ramp_z_{length}" for length in lengths]).alias("ramp_z")
    )
    # The rise of the ramp that fits best: the length whose score is the largest.
    best_rise = pl.coalesce(
        [pl.when(pl.col(f"_ramp_z_{n}") == pl.col("ramp_z")).then(pl.col(f"_ramp_rise_{n}")) for n in lengths]
    )
    return scored.with_columns(best_rise.alias("ramp_rise")).drop(
        ["_p0_rest", "_i", "_n_p_rest", "_n_var"]
        + [f"_ramp_z_{n}" for n in lengths]
        + [f"_ramp_rise_{n}" for n in lengths]
    )


def volume_chart(
    series: pl.DataFrame, keys: list[str], seasonal_lag: int = 1, baseline: int = 8, guard: int = 1
) -> pl.DataFrame:
    """Counts against a seasonal baseline: the mean of the same season position in the previous periods.

    With ``seasonal_lag`` 7 on daily data the baseline is the same weekday over the previous
    ``baseline`` weeks; with 1 on weekly data it is the previous weeks. Adds ``expected``,
    ``ratio`` (count over expected), ``dispersion`` (variance over mean of the baseline counts,
    at least 1) and ``z`` (overdispersed Poisson score).
    """
    ordered = series.sort([*keys, "period_start"])
    lags = [pl.col("count").shift(seasonal_lag * (guard + i)).over(keys) for i in range(baseline)]
    mean = pl.mean_horizontal(lags)
    variance = pl.concat_list(lags).list.var()
    with_expected = ordered.with_columns(
        mean.alias("expected"),
        pl.concat_list(lags).list.drop_nulls().list.len().alias("_baseline_n"),
        variance.alias("_variance"),
    )
    dispersion = pl.max_horizontal((pl.col("_variance") / pl.col("expected")).fill_nan(1.0).fill_null(1.0), pl.lit(1.0))
    return (
        with_expected.with_columns(
            pl.when(pl.col("_baseline_n") >= baseline // 2).then(pl.col("expected")).alias("expected"),
            dispersion.alias("dispersion"),
        )
        .with_columns(
            (pl.col("count") / pl.col("expected")).alias("ratio"),
            (
                (pl.col("count") - pl.col("expected"))
                / (pl.col("expected").clip(1, None) * pl.col("dispersion")).sqrt()
            ).alias("z"),
        )
        .drop("_baseline_n", "_variance")
    )


def level_chart(
    series: pl.DataFrame,
    keys: list[str],
    baseline: int = 26,
    guard: int = 2,
    min_baseline: int = 8,
    weekly_season: bool = False,
) -> pl.DataFrame:
    """Individuals (XmR) chart of a per-period level (a median or p90 duration, a backlog) on the log scale.

    Durations are skewed and their slowdowns multiplicative, so each period's ``value`` is
    judged as log(value) against the trailing baseline's median log level. Sigma is the wider
    of the short-term variation (median moving range / 0.954, Wheeler's robust XmR) and the
    long-term one (interquartile range / 1.349): a backlog wanders slowly, so its moving
    ranges alone would understate how far it strays. Both are robust, so an earlier crisis in
    the baseline neither shifts the centre nor widens the limits much. Periods without a value
    (no tickets) are skipped. With ``weekly_season`` (daily data) each weekday is its own
    series: a Sunday's backlog is older than a Tuesday's in any week, so it is compared with
    earlier Sundays, and ``baseline`` and ``guard`` count in weeks. Adds ``expected`` (the
    baseline level), ``ratio`` (value over it), ``sigma_log`` and ``z``; ``ucl`` is the
    upper three-sigma limit in the value's units.
    """
    lag = 1 + guard
    ordered = series.sort([*keys, "period_start"]).with_columns(
        pl.when(pl.col("value") > 0).then(pl.col("value").log()).alias("_log"),
        (pl.col("period_start").dt.weekday() if weekly_season else pl.lit(0, dtype=pl.Int8)).alias("_season"),
    )
    keys = [*keys, "_season"]
    # The moving range runs over periods with a value: a gap neither breaks nor doubles it.
    with_range = ordered.with_columns(
        pl.col("_log").forward_fill().shift(1).over(keys).alias("_previous")
    ).with_columns((pl.col("_log") - pl.col("_previous")).abs().alias("_mr"))

    def trailing(column: str, quantile: float) -> pl.Expr:
        return (
            pl.col(column)
            .shift(lag)
            .rolling_quantile(quantile, window_size=baseline, min_samples=min_baseline, interpolation="linear")
            .over(keys)
        )

    short_term = trailing("_mr", 0.5) / MEDIAN_MR_TO_SIGMA
    long_term = (trailing("_log", 0.75) - trailing("_log", 0.25)) / IQR_TO_SIGMA
    charted = with_range.with_columns(
        trailing("_log", 0.5).alias("_centre"), pl.max_horizontal(short_term, long_term).alias("sigma_log")
    )
    return charted.with_columns(
        pl.col("_centre").exp().alias("expected"),
        (pl.col("value") / pl.col("_centre").exp()).alias("ratio"),
        ((pl.col("_log") - pl.col("_centre")) / pl.col("sigma_log").clip(1e-6, None)).alias("z"),
        (pl.col("_centre") + 3 * pl.col("sigma_log")).exp().alias("ucl"),
    ).drop("_log", "_previous", "_mr", "_centre", "_season")


def window_score(frame: pl.DataFrame, keys: list[str], window: int) -> pl.DataFrame:
    """Standard score of the last ``window`` periods pooled, against each period's own baseline ``p0``.

    Two bad days in a row that are each just short of the spike limit are together far beyond
    it; pooling them answers "is the last few days' share still the baseline's?" with the
    sample of all of them. Scaled by the same Laney factor as the single-period score. Adds
    ``p_window`` (pooled bad share), ``n_window`` and ``z_window``.
    """
    bad = pl.col("bad").rolling_sum(window, min_samples=window).over(keys)
    trials = pl.col("n").rolling_sum(window, min_samples=window).over(keys)
    pooled = frame.sort([*keys, "period_start"]).with_columns(
        (bad / trials).alias("p_window"), trials.alias("n_window"), bad.alias("_bad_window")
    )
    binomial_sd = (pl.col("p0") * (1 - pl.col("p0")) / pl.col("n_window")).sqrt()
    pooled = pooled.with_columns(((pl.col("p_window") - pl.col("p0")) / binomial_sd).alias("_z_normal"))
    widen = pl.max_horizontal(pl.col("sigma_z").fill_null(1.0).fill_nan(1.0), pl.lit(1.0))
    return pooled.with_columns(
        (upper_tail_score(pooled, "_bad_window", "n_window", normal="_z_normal") / widen).alias("z_window")
    ).drop("_bad_window", "_z_normal")
