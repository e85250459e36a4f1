"""Refreshing only the touched days gives the marts a full rebuild gives, after any loads, updates and undos.

Hypothesis draws sequences of daily uploads (new tickets, new versions of old ones: moved, closed,
reopened, re-segmented, marked as complaints, handed to another customer; surveys and complaints
on old tickets) and undos, under both first-contact rules and in a zone far from UTC. After each
step the cube, the duration histograms and the backlog ages must equal a full rebuild's.
"""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from metrics.kpis import cube_refresh
from metrics.kpis.cube import build_cube
from metrics.kpis.marts import load_export, undo_export
from metrics.kpis.settings import settings_for
from pipelines.common.errors import IngestError
from pipelines.warehouse.store import connect
from tests.conftest import write

START = datetime(2026, 3, 2, 8, 0)
DAYS = 70
CHANNELS = ("email", "chat", "phone")
TICKET_HEADER = (
    "ticket_id,created_at,first_response_at,resolved_at,closed_at,channel,category,team,agent,customer_id,"
    "customer_tier,region,product,is_complaint,agent_replies"
)
MARTS = ("kpi_cube", "kpi_histogram", "kpi_backlog_ages")


def ticket_line(i: int, opened: datetime, channel: str, customer: int, closed_after: float | None, **more) -> str:
    replied = opened + timedelta(minutes=15 + 7 * (i % 13))
    resolved = opened + timedelta(hours=closed_after) if closed_after is not None else None
    stamp = "%Y-%m-%d %H:%M:%S"
    complaint = more.get("complaint", "")
    return ",".join(
        [
            f"T{i}", opened.strftime(stamp), replied.strftime(stamp) if i % 5 else "",
            resolved.strftime(stamp) if resolved else "", "", channel, ("billing", "delivery")[i % 2],
            more.get("team", ("A", "B")[i % 2]), f"ag{i % 4}", f"C{customer}", ("gold", "basic")[i % 2],
            ("north", "south")[i % 2], ("p1", "p2", "p3")[i % 3], complaint, str(1 + i % 3),
        ]
    )  # fmt: skip


def base_tickets(n: int = 240) -> str:
    lines = [TICKET_HEADER]
    for i in range(n):
        opened = START + timedelta(hours=i * DAYS * 24 / n)
        lines.append(ticket_line(i, opened, CHANNELS[i % 3], i % 17, None if i % 9 == 0 else 2 + i % 40,
                                 complaint=("true" if i % 11 == 0 else "false")))  # fmt: skip
    return "\n".join(lines) + "\n"


def surveys(rows: list[tuple[int, int, int]]) -> str:
    """(response, ticket, score out of 5) as a survey export, answered one to ten days after the ticket."""
    lines = ["response_id,ticket_id,responded_at,survey_type,score,scale"]
    for response, ticket, score in rows:
        answered = START + timedelta(hours=ticket * DAYS * 24 / 240 + 30, days=response % 9)  # days later
        lines.append(f"R{response},T{ticket},{answered:%Y-%m-%d %H:%M:%S},csat,{score},1-5")
    return "\n".join(lines) + "\n"


def complaints(rows: list[tuple[int, int]]) -> str:
    lines = ["complaint_id,ticket_id,created_at,channel,category,text"]
    for complaint, ticket in rows:
        filed = START + timedelta(hours=ticket * DAYS * 24 / 240 + 5)
        lines.append(f"X{complaint},T{ticket},{filed:%Y-%m-%d %H:%M:%S},,billing,wrong information given")
    return "\n".join(lines) + "\n"


# One upload: new tickets after or among the old, and old tickets in a new version.
changed_ticket = st.tuples(
    st.integers(0, 300),  # ticket number (above 239: a new ticket)
    st.integers(-5, DAYS + 10),  # day opened
    st.sampled_from(CHANNELS),
    st.integers(0, 20),  # customer
    st.one_of(st.none(), st.floats(0.1, 24 * 60)),  # hours to resolution, or still open
    st.sampled_from(["true", "false", ""]),  # marked as a complaint, or not said
)
step = st.one_of(
    st.tuples(st.just("tickets"), st.lists(changed_ticket, min_size=1, max_size=12)),
    st.tuples(st.just("surveys"), st.lists(st.tuples(st.integers(0, 60), st.integers(0, 300), st.integers(1, 5)),
                                           min_size=1, max_size=8)),
    st.tuples(st.just("complaints"), st.lists(st.tuples(st.integers(0, 20), st.integers(0, 239)),
                                              min_size=1, max_size=5)),
    st.tuples(st.just("undo"), st.none()),
)  # fmt: skip


def upload_text(kind: str, rows) -> str:
    if kind == "surveys":
        return surveys(rows)
    if kind == "complaints":
        return complaints(rows)
    lines = [TICKET_HEADER]
    for number, day, channel, customer, hours, complaint in rows:
        opened = START + timedelta(days=day, hours=number % 10)
        lines.append(ticket_line(number, opened, channel, customer, hours, complaint=complaint))
    return "\n".join(lines) + "\n"


def marts(con) -> dict[str, list[tuple]]:
    """Each mart's rows, sorted (a ratio has a row per side under one key), values rounded to what a sum's order
    can change."""
    found = {}
    for table in MARTS:
        rows = con.sql(f"SELECT * FROM {table}").fetchall()
        rounded = [tuple(round(v, 6) if isinstance(v, float) else v for v in row) for row in rows]
        found[table] = sorted(rounded, key=lambda row: tuple((v is None, str(v)) for v in row))
    return found


def full_rebuild_marts(con) -> dict[str, list[tuple]]:
    """The marts a full rebuild gives, leaving the refreshed ones in place for the next step."""
    for table in (*MARTS, "kpi_cube_meta"):
        con.execute(f"CREATE OR REPLACE TEMP TABLE kept_{table} AS SELECT * FROM {table}")
    build_cube(con, settings_for(con))
    rebuilt = marts(con)
    for table in (*MARTS, "kpi_cube_meta"):
        con.execute(f"DELETE FROM {table}")
        con.execute(f"INSERT INTO {table} SELECT * FROM kept_{table}")
    return rebuilt


def assert_refreshed_equals_rebuilt(con, when: str) -> None:
    refreshed, rebuilt = marts(con), full_rebuild_marts(con)
    for table in MARTS:
        extra, missing = set(refreshed[table]) - set(rebuilt[table]), set(rebuilt[table]) - set(refreshed[table])
        assert not extra and not missing, f"{table} {when}: {sorted(extra)[:5]=} {sorted(missing)[:5]=}"
        assert refreshed[table] == rebuilt[table], f"{table} {when}: the same rows, not as often"


CONVENTIONS = {
    "calendar_utc": "",
    "repeat_shanghai": '[conventions]\nfcr = "no_repeat"\nreport_time_zone = "Asia/Shanghai"\n'
    'complaint_rate_denominator = "tickets"\n',
}


@pytest.fixture(scope="module", params=sorted(CONVENTIONS))
def base(request, tmp_path_factory):
    """A warehouse of ten weeks of tickets, surveys and complaints with its cube, under one set of conventions."""
    folder = tmp_path_factory.mktemp(f"refresh_{request.param}")
    targets = write(folder / "targets.toml", CONVENTIONS[request.param])
    patch = pytest.MonkeyPatch()
    patch.setenv("CSAT_RADAR_TARGETS", str(targets))
    patch.setattr(cube_refresh, "CUBE_MIN_TICKETS", 0)  # keep a cube for these few tickets
    # Refresh exactly the touched days: merged ranges would recompute days no rule named, and so
    # hide a missing rule.
    patch.setattr(cube_refresh, "MERGE_GAP_DAYS", 0)
    patch.setattr(cube_refresh, "MAX_RANGES", 10_000)
    db = folder / "base.duckdb"
    con = connect(db)
    load_export(con, write(folder / "t.csv", base_tickets()), "tickets", source_tz="UTC")
    load_export(con, write(folder / "s.csv", surveys([(r, r * 4 % 240, 1 + r % 5) for r in range(60)])), "surveys",
                source_tz="UTC")  # fmt: skip
    load_export(con, write(folder / "c.csv", complaints([(c, c * 12) for c in range(10)])), "complaints",
                source_tz="UTC")  # fmt: skip
    con.close()
    yield db, folder
    patch.undo()


# Each example loads several files into a real warehouse and rebuilds its cube: few examples, and no
# shrinking (minutes per failure); the failing steps are in the assertion message.
@settings(
    max_examples=6,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(steps=st.lists(step, min_size=2, max_size=4))
def test_refreshing_the_touched_days_equals_a_full_rebuild(base, steps, tmp_path_factory):
    db, folder = base
    work = tmp_path_factory.mktemp("refresh_run") / "w.duckdb"
    shutil.copy(db, work)
    con = connect(work)
    try:
        loaded: list[int] = []
        for number, (kind, rows) in enumerate(steps):
            if kind == "undo":
                if not loaded:
                    continue
                try:
                    undo_export(con, loaded.pop())
                except IngestError:
                    continue  # an upload that changed nothing has nothing to undo
            else:
                source = write(folder / f"step{number}.csv", upload_text(kind, rows))
                result = load_export(con, source, kind, source_tz="UTC")
                loaded.append(result.batch_id)
            assert_refreshed_equals_rebuilt(con, f"after step {number} of {steps}")
    finally:
        con.close()


def test_a_load_of_a_few_days_refreshes_those_days_not_the_cube(base, tmp_path):
    db, _ = base
    work = tmp_path / "w.duckdb"
    shutil.copy(db, work)
    con = connect(work)
    try:
        late = upload_text("tickets", [(300, 20, "chat", 3, 5.0, "false")])
        from metrics.kpis import cube_refresh as refresh

        batch = load_export(con, write(tmp_path / "late.csv", late), "tickets", source_tz="UTC", refresh=False)
        done = refresh.refresh_cube(con)
        assert done is not None and not done.full
        opened = (START + timedelta(days=20)).date()
        assert opened in done.days and len(done.days) < 10, done.days
        assert_refreshed_equals_rebuilt(con, "after one late ticket")
        assert batch.rows_loaded == 1
    finally:
        con.close()
