"""Satisfaction scales: which answers count as satisfied (the top two boxes of their own scale)."""

from __future__ import annotations

import polars as pl

# scale → (lowest, highest, lowest satisfied score)
SCALES: dict[str, tuple[float, float, float]] = {
    "1-5": (1, 5, 4),
    "1-7": (1, 7, 6),
    "0-10": (0, 10, 9),
    "good-bad": (0, 1, 1),
}

SCALE_ALIASES = {
    "1-5": "1-5", "5": "1-5", "1 to 5": "1-5", "5-point": "1-5", "5 point": "1-5", "五分制": "1-5",
    "1-7": "1-7", "7": "1-7", "1 to 7": "1-7", "7-point": "1-7", "ces": "1-7",
    "0-10": "0-10", "10": "0-10", "0 to 10": "0-10", "11-point": "0-10", "nps": "0-10", "十分制": "0-10",
    "good-bad": "good-bad", "good/bad": "good-bad", "binary": "good-bad", "thumbs": "good-bad",
}  # fmt: skip

# Text answers, English and Chinese, onto (score, scale).
LABELS: dict[str, tuple[float, str]] = {
    "very satisfied": (5, "1-5"), "extremely satisfied": (5, "1-5"), "satisfied": (4, "1-5"),
    "neutral": (3, "1-5"), "neither satisfied nor dissatisfied": (3, "1-5"), "ok": (3, "1-5"),
    "dissatisfied": (2, "1-5"), "unsatisfied": (2, "1-5"), "not satisfied": (2, "1-5"),
    "very dissatisfied": (1, "1-5"), "very unsatisfied": (1, "1-5"), "extremely dissatisfied": (1, "1-5"),
    "非常满意": (5, "1-5"), "很满意": (5, "1-5"), "满意": (4, "1-5"), "比较满意": (4, "1-5"),
    "一般": (3, "1-5"), "基本满意": (3, "1-5"), "不满意": (2, "1-5"), "不太满意": (2, "1-5"),
    "非常不满意": (1, "1-5"), "很不满意": (1, "1-5"),
    "good": (1, "good-bad"), "good with comment": (1, "good-bad"), "positive": (1, "good-bad"),
    "bad": (0, "good-bad"), "bad with comment": (0, "good-bad"), "negative": (0, "good-bad"),
    "好评": (1, "good-bad"), "差评": (0, "good-bad"),
}  # fmt: skip

# Answers that mean "no answer yet" (Zendesk's survey states).
NO_ANSWER = ("offered", "unoffered", "not offered", "未评价")


def infer_scale(scores: pl.Series) -> str | None:
    """Scale of a numeric score column from all its values, or None when no known scale fits."""
    numbers = scores.drop_nulls()
    if numbers.len() == 0:
        return None
    low, high = numbers.min(), numbers.max()
    if low < 0 or high > 10:
        return None
    if low < 1 or high > 7:
        return "0-10"
    return "1-5" if high <= 5 else "1-7"


def mixed_scales(numbers: pl.Series) -> str | None:
    """Why whole-number answers read as 0-10 look like a 1-5 and a 0-10 survey in one column, or None.

    A 1-5 survey's answers pile up at 4 and 5 and a 0-10 survey's at 9 and 10, with 6-8 between
    them; a pile at 4-5 bigger than both 6-8 and 0-3, beside answers at 9-10, is two surveys.
    A genuine 0-10 survey has more at 6-8 than at 4-5, or, when customers are angry, more at 0-3.
    """
    numbers = numbers.drop_nulls()
    if infer_scale(numbers) != "0-10" or (numbers != numbers.round()).any():
        return None
    low, small_top = numbers.is_between(0, 3).sum(), numbers.is_between(4, 5).sum()
    middle, top = numbers.is_between(6, 8).sum(), numbers.is_between(9, 10).sum()
    if not top or small_top <= middle or small_top < low:
        return None
    return (
        f"the scores look like two scales in one column ({small_top} at 4-5 as on a 1-5 survey, "
        f"{top} at 9-10 as on 0-10, {middle} between); add a scale column, or name the scale"
    )


def satisfied_expr(score: pl.Expr, scale: pl.Expr) -> pl.Expr:
    """Top-two-box test on each answer's own scale."""
    expr = pl.lit(None, dtype=pl.Boolean)
    for name, (_, _, threshold) in SCALES.items():
        expr = pl.when(scale == name).then(score >= threshold).otherwise(expr)
    return expr


def in_range_expr(score: pl.Expr, scale: pl.Expr) -> pl.Expr:
    """Whether each score lies on its scale."""
    expr = pl.lit(False)
    for name, (low, high, _) in SCALES.items():
        expr = pl.when(scale == name).then(score.is_between(low, high)).otherwise(expr)
    return expr
