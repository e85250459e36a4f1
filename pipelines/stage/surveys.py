"""Survey answers read onto their scales: a score, its scale and whether it is satisfied, or why not.

Grain: one row per survey answer; the scale of answers that name none is one per file.
"""

from __future__ import annotations

import polars as pl

from pipelines.common.errors import ChoiceNeeded
from pipelines.stage import scales
from pipelines.stage.values import parse_numbers


def score_answers(
    frame: pl.DataFrame, declared_scale: str | None, file_name: str
) -> tuple[pl.DataFrame, list, str | None]:
    """Score, scale and is_satisfied for survey answers, with reasons for answers off their scale.

    Also returns the scale of the answers that name none (declared, or inferred from them all).
    """
    text = frame["score"].str.strip_chars()
    lowered = text.str.to_lowercase()
    label_score = lowered.replace_strict(
        {k: v[0] for k, v in scales.LABELS.items()}, default=None, return_dtype=pl.Float64
    )
    label_scale = lowered.replace_strict(
        {k: v[1] for k, v in scales.LABELS.items()}, default=None, return_dtype=pl.String
    )
    numbers, _ = parse_numbers(text, "score")
    if "scale" in frame.columns:
        row_scale_text = frame["scale"].str.strip_chars().str.to_lowercase()
        row_scale = row_scale_text.replace_strict(scales.SCALE_ALIASES, default=None, return_dtype=pl.String)
    else:
        row_scale_text = pl.Series([None] * frame.height, dtype=pl.String)
        row_scale = row_scale_text
    unnamed = numbers.filter(row_scale.is_null())
    if declared_scale is None and (mixed := scales.mixed_scales(unnamed)):
        raise ChoiceNeeded(file_name, mixed, "scale")  # which answer is on which scale is unknowable: no row is right
    column_scale = declared_scale or scales.infer_scale(unnamed)
    scale = pl.select(
        pl.coalesce(pl.lit(label_scale), pl.lit(row_scale), pl.lit(column_scale, dtype=pl.String))
    ).to_series()
    score = pl.select(pl.coalesce(pl.lit(label_score), pl.lit(numbers))).to_series()
    checks = pl.DataFrame(
        {
            "score_text": text,
            "lowered": lowered,
            "score": score,
            "scale": scale,
            "row_scale_text": row_scale_text,
            "row_scale": row_scale,
        }
    )
    reasons = checks.select(
        pl.when(pl.col("row_scale_text").is_not_null() & pl.col("row_scale").is_null())
        .then(pl.format("unknown scale '{}'", pl.col("row_scale_text")))
        .when(pl.col("score_text").is_null() | pl.col("lowered").is_in(scales.NO_ANSWER))
        .then(pl.lit("no survey answer (score is empty)"))
        .when(pl.col("score").is_null())
        .then(pl.format("unrecognised score '{}'", pl.col("score_text")))
        .when(pl.col("scale").is_null())
        .then(pl.format("score '{}' fits no known scale (1-5, 1-7, 0-10)", pl.col("score_text")))
        .when(~scales.in_range_expr(pl.col("score"), pl.col("scale")))
        .then(pl.format("score '{}' outside scale {}", pl.col("score_text"), pl.col("scale")))
        .alias("r")
    )["r"]
    typed = frame.with_columns(
        score.alias("score"),
        scale.alias("scale"),
        pl.select(scales.satisfied_expr(pl.lit(score), pl.lit(scale))).to_series().alias("is_satisfied"),
    )
    return typed, [(reasons, "score")], column_scale
