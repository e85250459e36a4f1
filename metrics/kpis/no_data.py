"""No data is not zero: which KPI records lack the inputs their metric requires, and those records made "no data".

Grain of ``input_presence``: one row per period and segment (and dimension, for several at once)
where the metric's required inputs were looked for, with ``known_rows`` (the fewest rows having
any one required input) and the ``reason`` of the first input no row has. ``mark_no_data`` then
turns each record whose inputs are absent into value null, n = 0 and that reason, and adds such a
record where the metric's own SQL gave none (a median of no first-response times has no rows),
so every face can say which column would give the number instead of showing 0 or nothing.
"""

from __future__ import annotations

from dataclasses import replace

import duckdb
import polars as pl

from metrics.kpis.catalog import Input, Metric, inputs
from metrics.kpis.settings import Settings
from metrics.kpis.sql import RANGE, Compiler, Query, fill

# The columns a no-data record keeps empty: nothing was measured.
MEASURED = ("value", "numerator", "denominator", "ci_low", "ci_high")


def _own_evidence(m: Metric, needed: Input) -> bool:
    # Every row of a metric's own source is evidence of an input known everywhere ("true"): its
    # records exist exactly where the input does, so there is nothing to look for.
    own_source = m.get("source") or m.get("numerator_source")
    return needed.known.strip() == "true" and needed.source_for(m) == own_source


def needs_exports(metrics: list[Metric]) -> bool:
    """Whether any of these metrics' input checks asks ``exports_filled`` (most count rows of their own source)."""
    return any(needed.column and not _own_evidence(m, needed) for m in metrics for needed in m.requires)


def _needs_looking(m: Metric, needed: Input, filled: dict[tuple, bool]) -> bool:
    # Nothing to look for either when every export fills the input's column: every period with data has it,
    # and the rows need not be read (the common case, and the cheap one: a count per batch).
    return not (_own_evidence(m, needed) or (needed.column and filled[(needed.column, needed.tables)]))


# What each warehouse's exports fill, by (file, its batches) then (column, tables): it changes only with a load or undo.
_FILLED: dict[tuple, dict[tuple, bool]] = {}


def exports_filled(con: duckdb.DuckDBPyConnection, extra: tuple[Input, ...] = ()) -> dict[tuple, bool]:
    """For every catalog input with a column (and ``extra``), by (column, tables): ``every_export_fills``.

    One statement reads the warehouse's version and, only when it is new, one more counts every
    input's column per batch: one metric or all of them ask a cached warehouse one question.
    """
    # data_version's counts (a load or undo changes them) with the file and its batches' start, as a new
    # warehouse in the same file has batches that started at other times.
    key = con.sql(
        "SELECT (SELECT path FROM duckdb_databases() WHERE database_name = current_database()), count(*),"
        " coalesce(max(batch_id), 0), max(started_at), count(*) FILTER (WHERE status <> 'loaded') FROM batches"
    ).fetchall()[0]
    wanted = {(i.column, i.tables) for i in (*inputs().values(), *extra) if i.column}
    known = _FILLED.get(key, {}) if key[0] else {}
    if wanted <= known.keys():
        return known
    pairs = sorted(wanted)
    tables = sorted({t for _, ts in pairs for t in ts})
    columns = {t: sorted({c for c, ts in pairs if t in ts}) for t in tables}
    # One scan per table: each column's filled rows per batch.
    per_table = ", ".join(
        f"t_{t} AS (SELECT batch_id, {', '.join(f'count({c}) AS {c}' for c in columns[t])} FROM {t} GROUP BY batch_id)"
        for t in tables
    )
    # A (table, batch) with no row filling the column lacks it, as when each table was asked alone.
    checks = ", ".join(
        f"(SELECT count(*) > 0 AND count(*) FILTER (WHERE filled = 0) = 0 FROM "
        f"({' UNION ALL '.join(f'SELECT {c} AS filled FROM t_{t}' for t in ts)}))"
        for c, ts in pairs
    )
    found = dict(zip(pairs, con.sql(f"WITH {per_table} SELECT {checks}").fetchall()[0], strict=True))
    if key[0]:
        if len(_FILLED) > 100:  # one entry per warehouse and version: a long-running server sees many versions
            _FILLED.clear()
        _FILLED[key] = found
    return found


def every_export_fills(con: duckdb.DuckDBPyConnection, needed: Input) -> bool:
    """Whether some export (batch) gave rows of the input's tables, and each filled its column in one at least."""
    return exports_filled(con, (needed,))[(needed.column, needed.tables)]


def _presence_sql(m: Metric, needed: Input, query: Query, settings: Settings, cube: bool) -> str:
    select = f"count(*) FILTER (WHERE {needed.known}) AS known_rows"
    if m.kind == "backlog":
        # Tickets open at a period's end may come from any earlier period: closing times are asked of all the data.
        compiler = Compiler(replace(query, grain=RANGE, date_from=None, date_to=None, filters=()), settings)
        where = compiler.conditions("created_at", None)
        return f"SELECT {fill(select, compiler.values)} FROM {compiler.source(needed.source_for(m))} src WHERE {where}"
    compiler = Compiler(query, settings)
    group = compiler.cube_grouped if cube else compiler.grouped
    return group(m, fill(select, compiler.values), needed.source_for(m), needed.time_for(m), None)


def input_presence(
    con: duckdb.DuckDBPyConnection,
    m: Metric,
    query: Query,
    settings: Settings,
    cube: bool = False,
    filled: dict[tuple, bool] | None = None,
) -> pl.DataFrame | None:
    """Per period and segment, how many rows have the metric's inputs and, where none do, why; None: nothing to check.

    With ``cube``, for the whole organisation and every cube dimension (a ``dimension`` column).
    A backlog's inputs are one row for the whole data (no period or segment columns).
    """
    # ``filled``: ``exports_filled``, asked once for many metrics (compute asks it once for all of them).
    if filled is None:
        filled = exports_filled(con, m.requires) if needs_exports([m]) else {}
    checks = [needed for needed in m.requires if _needs_looking(m, needed, filled)]
    if not checks:
        return None
    found = [con.sql(_presence_sql(m, needed, query, settings, cube)).pl() for needed in checks]
    keys = [c for c in found[0].columns if c != "known_rows"]
    if not keys:  # the whole data: one row
        found = [f.with_columns(pl.lit(0).alias("__whole")) for f in found]
        keys = ["__whole"]
    every = found[0].rename({"known_rows": "known_0"})
    for order, frame in enumerate(found[1:], start=1):
        every = every.join(frame.rename({"known_rows": f"known_{order}"}), on=keys, how="full", coalesce=True)
    # A check with no row at all in a period (no survey answers, say) lacks its input there just the same.
    known = [pl.col(f"known_{order}").fill_null(0).cast(pl.Int64) for order in range(len(checks))]
    reason = pl.coalesce(
        *(pl.when(k == 0).then(pl.lit(needed.missing)) for k, needed in zip(known, checks, strict=True))
    )
    return every.select(*keys, pl.min_horizontal(known).alias("known_rows"), reason.alias("reason"))


def mark_no_data(m: Metric, results: pl.DataFrame, presence: pl.DataFrame | None) -> pl.DataFrame:
    """``results`` (one row per period and segment) with every record lacking an input made "no data".

    Such a record has every measured column null, n = 0 and the input's ``reason``; a period and
    segment the inputs were looked for in, but that the metric's SQL gave no row for, gets one.
    Records of a metric with nothing to check are returned with a null ``reason``.
    """
    results = results.with_columns(pl.lit(None, dtype=pl.String).alias("reason"))
    if presence is None:
        return results
    keys = [c for c in presence.columns if c not in ("known_rows", "reason")]
    if keys == ["__whole"]:  # one row for the whole data, said of every record
        joined = results.join(presence.drop("__whole").rename({"reason": "found_reason"}), how="cross")
    else:
        # Presence rows for periods and segments the metric has no record of become records of their own.
        lacking = presence.filter(pl.col("known_rows") == 0).join(results.select(keys), on=keys, how="anti")
        joined = pl.concat(
            [results, lacking.select(keys).cast({k: results.schema[k] for k in keys})], how="diagonal_relaxed"
        ).join(presence.rename({"reason": "found_reason"}), on=keys, how="left")
    no_inputs = pl.col("known_rows").fill_null(0) == 0
    reason = pl.col("found_reason").fill_null(pl.lit(m.requires[0].missing))
    return joined.with_columns(
        *(pl.when(no_inputs).then(None).otherwise(pl.col(c)).alias(c) for c in MEASURED if c in joined.columns),
        pl.when(no_inputs).then(0).otherwise(pl.col("n")).cast(pl.Int64).alias("n"),
        pl.when(no_inputs).then(reason).alias("reason"),
    ).drop("known_rows", "found_reason")
