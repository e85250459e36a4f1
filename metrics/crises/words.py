"""What customers say: the words and phrases of complaints and survey comments that rose in a crisis.

Grain: one row per word or two-word phrase (``term``) of the comments in one place, with the number
of comments holding it in the crisis window and in the baseline before it (the same place, the
``BASELINE_PERIODS`` before the window, or four times the window when that is longer). A comment
counts once per term, however often it repeats it.

Rising is scored with the log-odds ratio with an informative Dirichlet prior (Monroe, Colaresi and
Quinn 2008, "Fightin' words", eq. 16-22): each term's prior is its pooled share of both sides times
``PRIOR_STRENGTH`` pseudo-counts, so a word seen in two comments is shrunk towards no change while a
word that rose in dozens stands out; the z-score divides the log-odds difference by its standard
error. A term is listed when at least ``MIN_COMMENTS`` comments of the window hold it and its z is at
least ``MIN_Z``.

Chinese is segmented with rjieba (the Rust jieba-rs, maintained and fast, its dictionary inside the
wheel); English is lower-cased; stop-words (stop_words.toml), numbers, ids, single letters or
characters and masked personal data are dropped. Personal data is masked as everywhere
(pipelines/stage/personal.py) before a word is counted or a comment shown.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import rjieba

from metrics.crises.rules import rules
from metrics.kpis.catalog import SOURCES, dimension_expression
from metrics.kpis.settings import Settings
from pipelines.stage.personal import mask

STOP_WORDS_FILE = Path(__file__).parent / "stop_words.toml"
# At most this many comments per side are read; more are sampled (repeatably) and the result says so.
MAX_COMMENTS = 20_000
PRIOR_STRENGTH = 500.0
MIN_COMMENTS = 3
MIN_Z = 1.96
TOP_TERMS = 10
EXAMPLES = 3
EXAMPLE_CHARACTERS = 200
PHRASE_COVERS = 0.8
# A word: a run of Chinese characters (segmented next), or letters and digits with inner apostrophes;
# or a punctuation mark, kept as a piece of its own (never a word) so no phrase spans two clauses.
PIECE = r"\p{Han}+|[\p{L}\p{N}][\p{L}\p{N}'’_-]*|[,.;:!?()\[\]\-–—/，。；：！？、（）【】]"
# Masked or scrubbed personal data, addresses and links: never a word.
NOT_WORDS = r"[A-Za-z0-9._%+*-]*[*@][A-Za-z0-9._%+*-]*|\[(?:email|phone|removed)\]|https?://\S+|www\.\S+"


@dataclass(frozen=True)
class Said:
    """What customers said in a place: the rising ``terms`` and up to three ``examples`` of each.

    ``terms``: term, during, before (comments holding it), z. ``examples``: term, written_at, source, text.
    ``comments_during``/``comments_before`` count the comments read; ``sampled`` says whether a side
    had more than ``MAX_COMMENTS`` and was sampled.
    """

    terms: pl.DataFrame
    examples: pl.DataFrame
    comments_during: int
    comments_before: int
    sampled: bool = False
    notes: list[str] = field(default_factory=list)


@cache
def stop_words() -> frozenset[str]:
    """English and Chinese stop-words from stop_words.toml."""
    lists = tomllib.loads(STOP_WORDS_FILE.read_text(encoding="utf-8"))
    return frozenset(lists["en"]) | frozenset(lists["zh"])


def comments_sql(filters: list[tuple[str, str]]) -> str:
    """SQL for the complaint texts and survey comments of a place: written_at, source, text.

    Parameters: $first, $last (local days), $zone, and $s0, $s1… the segments of ``filters``.
    """
    where = " AND ".join(
        f"coalesce(CAST({dimension_expression(d)} AS VARCHAR), '(none)') = $s{i}" for i, (d, _) in enumerate(filters)
    )
    where = f" AND {where}" if where else ""
    day = "(written_at AT TIME ZONE $zone)::DATE"
    return f"""
        SELECT written_at, source, text FROM (
            SELECT created_at AS written_at, 'complaint' AS source, complaint_text AS text, *
            FROM ({SOURCES["complaints"]}) WHERE complaint_text IS NOT NULL
            UNION ALL BY NAME
            SELECT src.responded_at AS written_at, 'survey' AS source, sr.comment AS text, src.*
            FROM ({SOURCES["surveys"]}) src JOIN survey_responses sr ON sr.response_id = src.response_id
            WHERE sr.comment IS NOT NULL
        )
        WHERE trim(text) <> '' AND {day} BETWEEN $first AND $last{where}"""


def read_comments(
    con: duckdb.DuckDBPyConnection, settings: Settings, filters: list[tuple[str, str]], first: date, last: date
) -> tuple[pl.DataFrame, bool]:
    """The comments of a place between two days (inclusive), masked; sampled to ``MAX_COMMENTS`` when more."""
    params = {"first": first, "last": last, "zone": settings.conventions.report_time_zone}
    params |= {f"s{i}": segment for i, (_, segment) in enumerate(filters)}
    inner = comments_sql(filters)
    total = con.sql(f"SELECT count(*) FROM ({inner})", params=params).fetchall()[0][0]
    sample = f" USING SAMPLE reservoir({MAX_COMMENTS} ROWS) REPEATABLE (7)" if total > MAX_COMMENTS else ""
    frame = con.sql(f"SELECT * FROM ({inner}){sample}", params=params).pl()
    return mask(frame), total > MAX_COMMENTS


def segmented(pieces: pl.Series) -> pl.DataFrame:
    """Each distinct run of Chinese characters cut into words by rjieba: piece, words (a list)."""
    distinct = pieces.unique().sort().to_list()
    # The segmenter is a function of one string: called once per distinct run, not per comment.
    return pl.DataFrame(
        {"piece": distinct, "words": [rjieba.cut(p) for p in distinct]},
        schema={"piece": pl.String, "words": pl.List(pl.String)},
    )


def terms_of(comments: pl.DataFrame) -> pl.DataFrame:
    """One row per comment (``doc``) and distinct term in it: words and two-word phrases, stop-words dropped."""
    pieces = (
        comments.select(
            "doc",
            pl.col("text").str.to_lowercase().str.replace_all(NOT_WORDS, " ").str.extract_all(PIECE).alias("piece"),
        )
        .with_columns(pl.int_ranges(pl.col("piece").list.len()).alias("pos"))
        .explode("piece", "pos")
        .drop_nulls("piece")
    )
    if pieces.is_empty():
        return pl.DataFrame(schema={"doc": pl.UInt32, "term": pl.String})
    han = pieces.filter(pl.col("piece").str.contains(r"^\p{Han}+$"))
    words = segmented(han["piece"])
    tokens = (
        pieces.join(words, on="piece", how="left")
        .with_columns(pl.coalesce("words", pl.concat_list("piece")).alias("word"))
        .with_columns(pl.int_ranges(pl.col("word").list.len()).alias("sub"))
        .explode("word", "sub")
        .sort("doc", "pos", "sub")
        .with_columns(
            pl.col("word").str.strip_chars("'’_-").alias("word"),
            (pl.int_range(pl.len()).over("doc")).alias("at"),
        )
    )
    kept = kept_word(pl.col("word"))
    tokens = tokens.with_columns(kept.alias("kept"))
    following = tokens.select(
        "doc", (pl.col("at") - 1).alias("at"), pl.col("word").alias("next"), pl.col("kept").alias("next_kept")
    )
    pairs = tokens.join(following, on=["doc", "at"]).filter(pl.col("kept") & pl.col("next_kept"))
    both_han = pl.col("word").str.contains(r"^\p{Han}+$") & pl.col("next").str.contains(r"^\p{Han}+$")
    phrases = pairs.select(
        "doc", pl.when(both_han).then(pl.col("word") + pl.col("next")).otherwise(pl.col("word") + " " + pl.col("next"))
    ).rename({"word": "term"})
    singles = tokens.filter("kept").select("doc", pl.col("word").alias("term"))
    return pl.concat([singles, phrases]).unique()


def kept_word(word: pl.Expr) -> pl.Expr:
    """A word worth counting: no digit (numbers, ids), more than one letter or character, not a stop-word."""
    return (
        ~word.str.contains(r"\p{N}")
        & (word.str.len_chars() > 1)
        & ~word.is_in(list(stop_words()))
        & word.str.contains(r"\p{L}")
    )


def log_odds(counts: pl.DataFrame, prior_strength: float = PRIOR_STRENGTH) -> pl.DataFrame:
    """Monroe et al.'s log-odds ratio with an informative Dirichlet prior, as a z-score per term.

    ``counts``: term, during, before (comments holding the term on each side). The prior of a term
    is ``prior_strength`` (at most the pooled count) times its pooled share of both sides. Adds ``delta`` (the log-odds
    difference, window against baseline) and ``z`` (delta over its standard error).
    """
    n_during, n_before = float(counts["during"].sum()), float(counts["before"].sum())
    pooled = n_during + n_before
    if pooled == 0:
        return counts.with_columns(pl.lit(None, pl.Float64).alias("delta"), pl.lit(None, pl.Float64).alias("z"))
    # Never more pseudo-counts than there are counts: on a small place the prior would drown the data.
    prior_strength = min(prior_strength, pooled)
    alpha = prior_strength * (pl.col("during") + pl.col("before")) / pooled
    during, before = pl.col("during") + alpha, pl.col("before") + alpha
    delta = (during / (n_during + prior_strength - during)).log() - (
        before / (n_before + prior_strength - before)
    ).log()
    variance = 1.0 / during + 1.0 / before
    return counts.with_columns(delta.alias("delta")).with_columns((pl.col("delta") / variance.sqrt()).alias("z"))


def rising_terms(during: pl.DataFrame, before: pl.DataFrame) -> pl.DataFrame:
    """Terms of the window's comments that rose against the baseline's: term, during, before, z (highest first)."""
    counted = [
        terms_of(side).group_by("term").agg(pl.len().alias(name))
        for side, name in ((during, "during"), (before, "before"))
    ]
    counts = counted[0].join(counted[1], on="term", how="full", coalesce=True).fill_null(0)
    if counts.is_empty():
        return pl.DataFrame(schema={"term": pl.String, "during": pl.Int64, "before": pl.Int64, "z": pl.Float64})
    scored = log_odds(counts.cast({"during": pl.Int64, "before": pl.Int64}))
    rising = scored.filter((pl.col("during") >= MIN_COMMENTS) & (pl.col("z") >= MIN_Z))
    return (
        without_echoes(rising)
        .sort(["z", "term"], descending=[True, False])
        .head(TOP_TERMS)
        .select("term", "during", "before", "z")
    )


def without_echoes(rising: pl.DataFrame) -> pl.DataFrame:
    """The rising terms less each word that only ever comes inside a rising phrase ("wrong" of "wrong information").

    A phrase is shown rather than its word when it holds at least ``PHRASE_COVERS`` of the word's comments.
    """
    phrases = rising.filter(pl.col("term").str.contains(" ")).select(
        pl.col("term").str.split(" ").alias("word"), pl.col("during").alias("phrase_during")
    )
    covered = (
        phrases.explode("word")
        .join(rising.select(pl.col("term").alias("word"), "during"), on="word")
        .filter(pl.col("phrase_during") >= PHRASE_COVERS * pl.col("during"))
        .select(pl.col("word").alias("term"))
        .unique()
    )
    return rising.join(covered, on="term", how="anti")


def examples_of(terms: pl.DataFrame, during: pl.DataFrame) -> pl.DataFrame:
    """Up to ``EXAMPLES`` comments of the window holding each term, most recent first, shortened."""
    if terms.is_empty():
        return pl.DataFrame(schema={"term": pl.String, "written_at": pl.Datetime("us", "UTC"), "source": pl.String,
                                    "text": pl.String})  # fmt: skip
    holding = terms_of(during).join(terms.select("term"), on="term").join(during, on="doc")
    text = pl.col("text").str.replace_all(r"\s+", " ").str.strip_chars()
    short = pl.when(text.str.len_chars() > EXAMPLE_CHARACTERS).then(
        text.str.slice(0, EXAMPLE_CHARACTERS - 1) + "…"
    ).otherwise(text)  # fmt: skip
    return (
        holding.sort(["term", "written_at", "doc"], descending=[False, True, False])
        .group_by("term", maintain_order=True)
        .head(EXAMPLES)
        .select("term", "written_at", "source", short.alias("text"))
    )


def what_customers_say(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    filters: list[tuple[str, str]],
    first: date,
    last: date,
) -> Said:
    """The rising words of a place's comments between ``first`` and ``last`` (days, inclusive) and their examples.

    ``filters``: (dimension, segment) pairs of the place, none for the whole organisation. The
    baseline is the same place before ``first``: four times the window, at least
    ``[contributors] baseline_days`` (the causes' baseline: comments are sparse, a quarter holds enough).
    """
    days = (last - first).days + 1
    base_first = first - timedelta(days=max(4 * days, rules()["contributors"]["baseline_days"]))
    during, sampled_during = read_comments(con, settings, filters, first, last)
    before, sampled_before = read_comments(con, settings, filters, base_first, first - timedelta(days=1))
    during, before = (f.with_row_index("doc") for f in (during, before))
    terms = rising_terms(during, before)
    notes = []
    if sampled_during or sampled_before:
        notes.append(f"More than {MAX_COMMENTS:,} comments on a side: a random sample of {MAX_COMMENTS:,} was read.")
    return Said(
        terms=terms,
        examples=examples_of(terms, during),
        comments_during=during.height,
        comments_before=before.height,
        sampled=sampled_during or sampled_before,
        notes=notes,
    )


def z_scores(during: np.ndarray, before: np.ndarray, prior_strength: float = PRIOR_STRENGTH) -> np.ndarray:
    """``log_odds``'s z for arrays of counts (terms in the same order on both sides)."""
    frame = pl.DataFrame({"term": [str(i) for i in range(len(during))], "during": during, "before": before})
    return log_odds(frame, prior_strength)["z"].to_numpy()
