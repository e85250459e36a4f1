"""The SQL primitives whose spelling or meaning differs between engines, spelled once per engine.

The KPI compiler (metrics/kpis/sql.py) writes DuckDB SQL. Where DuckDB's spelling is not portable
it asks a ``Spelling`` for the primitive: on DuckDB that is DuckDB's own text, so DuckDB's SQL
and numbers stay as they were; on another engine it is a marker call ``csat_<name>(...)``, which
``render`` expands into that engine's spelling while sqlglot transpiles the rest of the statement.

Why markers and not sqlglot alone: sqlglot transpiles what it knows and passes the rest through
silently (``timezone()``, macros, ``len(list)``), and some of what it does translate changes
meaning (Spark's ``UNIX_TIMESTAMP`` drops sub-seconds; ``AT TIME ZONE`` follows Spark's session
zone). Each primitive below says what it means; the parity suite (tests/kpis/test_parity_spark.py)
holds every engine's spelling to DuckDB's numbers.

Spark spellings work on instants only through ``unix_micros`` and on local wall-clock times as
"UTC wall clocks" (``from_utc_timestamp``), never through a cast that reads the session's time
zone, so a session in any zone gives the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

ENGINES = ("duckdb", "spark", "trino")
MARK = "csat_"
MICROS = {"second": 1_000_000, "minute": 60_000_000, "hour": 3_600_000_000, "day": 86_400_000_000}
DAY_MICROS = MICROS["day"]
# The period steps of the calendar grains, as each engine's sequence and date arithmetic want them.
SPARK_STEP = {"day": "INTERVAL 1 DAY", "week": "INTERVAL 7 DAY", "month": "INTERVAL 1 MONTH",
              "quarter": "INTERVAL 3 MONTH"}  # fmt: skip
SPARK_NEXT = {"day": "date_add({d}, 1)", "week": "date_add({d}, 7)", "month": "add_months({d}, 1)",
              "quarter": "add_months({d}, 3)"}  # fmt: skip
TRINO_STEP = {"day": "INTERVAL '1' DAY", "week": "INTERVAL '7' DAY", "month": "INTERVAL '1' MONTH",
              "quarter": "INTERVAL '3' MONTH"}  # fmt: skip


class EngineError(ValueError):
    """An engine this SQL cannot be written for, or a primitive it has no spelling of."""


def _spark_local_micros(ts: str, zone: str) -> str:
    # from_utc_timestamp shifts the instant by the zone's offset at that instant: its micros are
    # the local wall clock read as if it were UTC, whatever the session's zone.
    return f"unix_micros(from_utc_timestamp({ts}, {zone}))"


def _spark_local_date(ts: str, zone: str) -> str:
    micros = _spark_local_micros(ts, zone)
    # Whole days of the wall clock, by integer arithmetic (a floor also before 1970).
    return f"date_from_unix_date(CAST((({micros}) - pmod({micros}, {DAY_MICROS})) div {DAY_MICROS} AS INT))"


def _spark_period_start(ts: str, zone: str, grain: str) -> str:
    day = _spark_local_date(ts, zone)
    return day if grain == "day" else f"trunc({day}, '{grain.upper()}')"


def _spark_local_midnight(day: str, zone: str) -> str:
    # The instant at which the local day ``day`` starts in ``zone``: its midnight as a UTC wall
    # clock, read in the zone (to_utc_timestamp), again without the session's zone.
    return f"to_utc_timestamp(timestamp_micros(CAST(unix_date({day}) AS BIGINT) * {DAY_MICROS}), {zone})"


def _utc_micros(iso: str) -> int:
    moment = datetime.fromisoformat(iso.strip("'"))
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _trino_median(x: str) -> str:
    # Trino has no exact median aggregate (approx_percentile is approximate): the middle of the
    # sorted values, the mean of the two middle ones for an even count, as DuckDB's median.
    xs = f"array_sort(array_agg({x}))"
    n = f"cardinality({xs})"
    return f"((element_at({xs}, ({n} + 1) / 2) + element_at({xs}, {n} / 2 + 1)) / 2e0)"


def _spark_business_minutes(a, b, zone, opens, closes, days, holidays) -> str:
    # As DuckDB's macro (metrics/kpis/sql.py): over each local day from a's to b's, the overlap of
    # [a, b] with the opening hours, on the wall clock, in whole microseconds.
    la, lb = _spark_local_micros(a, zone), _spark_local_micros(b, zone)
    first, last = _spark_local_date(a, zone), _spark_local_date(b, zone)
    day = f"CAST(unix_date(__d) AS BIGINT) * {DAY_MICROS}"
    # The opening minutes arrive as literals; multiplied here, as an int they would overflow in Spark.
    opening, closing = int(opens) * MICROS["minute"], int(closes) * MICROS["minute"]
    overlap = f"greatest(0L, least({lb}, {day} + {closing}L) - greatest({la}, {day} + {opening}L))"
    open_days = (
        f"filter(sequence({first}, {last}), __d -> (weekday(__d) + 1) IN ({days.strip(chr(39))}) "
        f"AND NOT array_contains(array({_date_list(holidays)}), __d))"
    )
    summed = f"aggregate({open_days}, 0L, (__acc, __d) -> __acc + {overlap})"
    return f"coalesce(CASE WHEN {first} > {last} THEN 0D ELSE {summed} / 60e6 END, 0D)"


def _trino_business_minutes(a, b, zone, opens, closes, days, holidays) -> str:
    def local(ts: str) -> str:
        return f"CAST(to_unixtime(with_timezone(CAST({ts} AT TIME ZONE {zone} AS TIMESTAMP), 'UTC')) * 1e6 AS BIGINT)"

    la, lb = local(a), local(b)
    first, last = f"CAST({a} AT TIME ZONE {zone} AS DATE)", f"CAST({b} AT TIME ZONE {zone} AS DATE)"
    day = "CAST(to_unixtime(CAST(__d AS TIMESTAMP)) * 1e6 AS BIGINT)"
    opening, closing = int(opens) * MICROS["minute"], int(closes) * MICROS["minute"]
    overlap = f"greatest(0, least({lb}, {day} + BIGINT '{closing}') - greatest({la}, {day} + BIGINT '{opening}'))"
    open_days = (
        f"filter(sequence({first}, {last}), __d -> day_of_week(__d) IN ({days.strip(chr(39))}) "
        f"AND NOT contains(ARRAY[{_date_list(holidays)}], __d))"
    )
    summed = f"reduce({open_days}, BIGINT '0', (__acc, __d) -> __acc + {overlap}, __acc -> __acc)"
    return f"coalesce(CASE WHEN {first} > {last} THEN 0e0 ELSE {summed} / 60e6 END, 0e0)"


def _date_list(holidays: str) -> str:
    dates = [h for h in holidays.strip("'").split(",") if h] or ["1900-01-01"]
    return ", ".join(f"DATE '{h}'" for h in dates)


@dataclass(frozen=True)
class Primitive:
    name: str
    meaning: str
    spellings: dict[str, Callable[..., str]]


PRIMITIVES = {
    p.name: p
    for p in (
        Primitive(
            "minutes_between",
            "exact minutes from instant a to instant b, microseconds included (Spark's UNIX_TIMESTAMP drops them)",
            {
                "duckdb": lambda a, b: f"((epoch_us({b}) - epoch_us({a})) / 60e6)",
                "spark": lambda a, b: f"((unix_micros({b}) - unix_micros({a})) / 60e6)",
                "trino": lambda a, b: f"(CAST(to_unixtime({b}) * 1e6 - to_unixtime({a}) * 1e6 AS DOUBLE) / 60e6)",
            },
        ),
        Primitive(
            "local_date",
            "the calendar date of an instant in the reporting zone",
            {
                "duckdb": lambda ts, zone: f"({ts} AT TIME ZONE {zone})::DATE",
                "spark": _spark_local_date,
                "trino": lambda ts, zone: f"CAST({ts} AT TIME ZONE {zone} AS DATE)",
            },
        ),
        Primitive(
            "period_start",
            "the first local date of the day, ISO week (Monday), month or quarter an instant falls in",
            {
                "duckdb": lambda ts, zone, grain: f"date_trunc({grain}, {ts} AT TIME ZONE {zone})::DATE",
                "spark": lambda ts, zone, grain: _spark_period_start(ts, zone, grain.strip("'")),
                "trino": lambda ts, zone, grain: f"date_trunc({grain}, CAST({ts} AT TIME ZONE {zone} AS DATE))",
            },
        ),
        Primitive(
            "utc",
            "an instant given as an ISO text with its offset",
            {
                "duckdb": lambda iso: f"TIMESTAMPTZ {iso}",
                "spark": lambda iso: f"timestamp_micros({_utc_micros(iso)})",
                "trino": lambda iso: f"from_unixtime_nanos({_utc_micros(iso)} * 1000)",
            },
        ),
        Primitive(
            "shift",
            # No DuckDB spelling: DuckDB keeps the catalog's own INTERVAL arithmetic, which render turns into this.
            "an instant moved by an exact number of microseconds (an SLA in minutes or hours, a window in days)",
            {
                "spark": lambda ts, micros: f"timestamp_micros(unix_micros({ts}) + CAST({micros} AS BIGINT))",
                "trino": lambda ts, micros: f"({ts} + CAST({micros} AS BIGINT) / 1000 * INTERVAL '0.001' SECOND)",
            },
        ),
        Primitive(
            "business_minutes",
            "minutes of a to b inside business hours (open and close minutes of the local day, ISO weekdays,"
            " holidays) in a zone, summed over the local days between",
            {"spark": _spark_business_minutes, "trino": _trino_business_minutes},
        ),
        Primitive(
            "sorted_list",
            "the values of a group, sorted ascending (for exact order statistics)",
            {
                "duckdb": lambda x: f"list_sort(list({x}))",
                "spark": lambda x: f"array_sort(collect_list({x}))",
                "trino": lambda x: f"array_sort(array_agg({x}))",
            },
        ),
        Primitive(
            "list_length",
            "the number of values in a list",
            {
                "duckdb": lambda xs: f"len({xs})",
                "spark": lambda xs: f"size({xs})",
                "trino": lambda xs: f"cardinality({xs})",
            },
        ),
        Primitive(
            "list_element",
            "the value at a 1-based position of a list",
            {
                "duckdb": lambda xs, i: f"{xs}[({i})::BIGINT]",
                "spark": lambda xs, i: f"element_at({xs}, CAST({i} AS INT))",
                "trino": lambda xs, i: f"element_at({xs}, CAST({i} AS BIGINT))",
            },
        ),
        Primitive(
            "median",
            "the exact median of a group (the mean of the two middle values for an even count)",
            {"duckdb": lambda x: f"median({x})", "spark": lambda x: f"median({x})", "trino": _trino_median},
        ),
        Primitive(
            "local_midnight",
            "the instant a local date starts in a zone",
            {
                "duckdb": lambda day, zone: f"timezone({zone}, ({day})::TIMESTAMP)",
                "spark": _spark_local_midnight,
                "trino": lambda day, zone: f"with_timezone(CAST({day} AS TIMESTAMP), {zone})",
            },
        ),
        Primitive(
            "period_series",
            "one row per period start from a first to a last period start (in a SELECT list, over one row)",
            {
                "duckdb": lambda first, last, grain: (
                    f"unnest(generate_series(({first})::TIMESTAMP, ({last})::TIMESTAMP, "
                    f"INTERVAL 1 {grain.strip(chr(39))}))"
                ),
                "spark": lambda first, last, grain: (
                    f"explode(sequence({first}, {last}, {SPARK_STEP[grain.strip(chr(39))]}))"
                ),
            },
        ),
        Primitive(
            "iso_weekday",
            "the ISO day of the week of a date, Monday 1 to Sunday 7",
            {
                "duckdb": lambda day: f"isodow({day})",
                "spark": lambda day: f"(weekday({day}) + 1)",
                "trino": lambda day: f"day_of_week({day})",
            },
        ),
        Primitive(
            "month_start",
            "the first day of a date's month",
            {
                "duckdb": lambda day: f"date_trunc('month', {day})",
                "spark": lambda day: f"trunc({day}, 'MM')",
                "trino": lambda day: f"date_trunc('month', {day})",
            },
        ),
        Primitive(
            "next_period",
            "the first date of the period after the one starting at a date",
            {
                "duckdb": lambda day, grain: f"({day} + INTERVAL 1 {grain.strip(chr(39))})::DATE",
                "spark": lambda day, grain: SPARK_NEXT[grain.strip("'")].format(d=day),
                "trino": lambda day, grain: f"date_add({grain}, 1, {day})",
            },
        ),
    )
}


class Spelling:
    """How the compiler writes each primitive for one engine: DuckDB's text, or a marker ``render`` expands."""

    def __init__(self, engine: str = "duckdb"):
        if engine not in ENGINES:
            raise EngineError(f"unknown engine {engine!r}; use one of {', '.join(ENGINES)}")
        self.engine = engine

    @property
    def native(self) -> bool:
        return self.engine == "duckdb"

    def __call__(self, name: str, *args: str) -> str:
        if self.native:
            return PRIMITIVES[name].spellings["duckdb"](*args)
        return f"{MARK}{name}({', '.join(args)})"

    def group_by(self, keys: int) -> str:
        """Group by the first ``keys`` columns selected (Trino has no GROUP BY ALL)."""
        return "GROUP BY ALL" if self.native else "GROUP BY " + ", ".join(str(i + 1) for i in range(keys))


@cache
def _dialect(engine: str):
    """sqlglot's dialect for ``engine``, taught to expand the markers into that engine's spellings."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.dialects.spark import Spark
    from sqlglot.dialects.trino import Trino

    base = {"spark": Spark, "trino": Trino}[engine]

    class Generator(base.Generator):
        def anonymous_sql(self, expression: exp.Anonymous) -> str:
            name = str(expression.this).lower()
            if not name.startswith(MARK):
                return super().anonymous_sql(expression)
            args = [self.sql(a) for a in expression.expressions]
            primitive = PRIMITIVES.get(name[len(MARK) :])
            if primitive is None or engine not in primitive.spellings:
                raise EngineError(f"no {engine} spelling of {name}")
            return primitive.spellings[engine](*args)

    dialect = type(f"Csat{base.__name__}", (base,), {"Generator": Generator})
    return sqlglot, exp, dialect


def render(sql: str, engine: str) -> str:
    """DuckDB SQL with markers, as ``engine`` SQL: markers expanded, the rest transpiled by sqlglot."""
    if engine == "duckdb":
        return sql
    if engine not in ENGINES:
        raise EngineError(f"unknown engine {engine!r}; use one of {', '.join(ENGINES)}")
    sqlglot, exp, dialect = _dialect(engine)
    tree = sqlglot.parse_one(sql, read="duckdb")
    tree = tree.transform(lambda node: _portable_node(node, exp))
    if engine == "trino":
        _trino_series(tree, sqlglot, exp, dialect)
    return tree.sql(dialect=dialect)


def _trino_series(tree, sqlglot, exp, dialect) -> None:
    """Trino returns no rows from a function in a SELECT list: a period series becomes a CROSS JOIN UNNEST."""
    for call in list(tree.find_all(exp.Anonymous)):
        if str(call.this).lower() != f"{MARK}period_series":
            continue
        select = call.find_ancestor(exp.Select)
        alias = call.parent.alias if isinstance(call.parent, exp.Alias) else "p"
        first, last, grain = (a.sql(dialect=dialect) for a in call.expressions)
        source = select.args["from_"].sql(dialect=dialect)
        step = TRINO_STEP[grain.strip("'")]
        series = f"UNNEST(sequence({first}, {last}, {step})) AS g({alias})"
        text = f"SELECT g.{alias} AS {alias} {source} CROSS JOIN {series}"
        select.replace(sqlglot.parse_one(text, read="trino"))


def _portable_node(node, exp):
    """The DuckDB-only spellings the catalog's own SQL uses, as markers: interval arithmetic and instants."""
    if isinstance(node, exp.Add | exp.Sub) and isinstance(node.expression, exp.Interval):
        interval = node.expression
        unit = str(interval.unit.name if interval.unit else "").lower().rstrip("s")
        if unit not in MICROS:
            raise EngineError(f"no portable spelling of an interval in {unit!r}")
        sign = "-" if isinstance(node, exp.Sub) else ""
        amount = interval.this.copy()
        micros = exp.Mul(this=exp.Paren(this=amount), expression=exp.Literal.number(MICROS[unit]))
        if sign:
            micros = exp.Neg(this=exp.Paren(this=micros))
        return exp.Anonymous(this=f"{MARK}shift", expressions=[node.this.copy(), micros])
    if isinstance(node, exp.Cast) and node.to.is_type("timestamptz") and node.this.is_string:
        return exp.Anonymous(this=f"{MARK}utc", expressions=[node.this.copy()])
    return node
