"""No data is not zero: a KPI whose inputs are absent shows "no data" and names the column that would give it.

A ticket export without a first-response column used to show 0.0% "answered within 1 h" (the
median beside it showed "–"); with no complaint column every complaint rate read 0.0%, and with
no survey file the survey response rate did. Every record lacking its inputs is now value null,
n = 0 and a ``reason``.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest

from metrics.crises.radar import scan
from metrics.kpis.catalog import catalog, inputs
from metrics.kpis.compute import Query, compute
from metrics.kpis.settings import load_settings
from pipelines.ingest import ingest_file
from pipelines.warehouse.store import connect
from tests.conftest import run_cli, write

AS_OF = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
WEEK1, WEEK2 = date(2026, 3, 2), date(2026, 3, 9)

# Headers spelled as a helpdesk might, not as the canonical columns.
TICKETS = """\
Case Number,Opened At,First Reply At,Solved At,Via,Complaint,Reopens,Agent Replies
K1,2026-03-02 09:00,2026-03-02 09:20,2026-03-02 12:00,email,no,0,1
K2,2026-03-03 10:00,2026-03-03 10:30,2026-03-04 10:00,chat,yes,1,2
K3,2026-03-04 11:00,2026-03-04 13:00,2026-03-04 15:00,email,no,0,1
K4,2026-03-09 09:00,2026-03-09 09:10,2026-03-09 11:00,phone,no,0,1
K5,2026-03-10 09:00,,,chat,no,,
"""
SURVEYS = """\
Feedback ID,Ticket Number,Rated At,Survey Type,Rating,Scale
F1,K1,2026-03-02 13:00,csat,5,1-5
F2,K2,2026-03-04 11:00,csat,2,1-5
F3,K3,2026-03-04 16:00,nps,9,0-10
F4,K4,2026-03-09 12:00,ces,6,1-7
"""
COMPLAINTS = """\
Complaint Number,Date Received,Solved Date,Topic,Source,Details
Q1,2026-03-03 08:00,2026-03-03 18:00,billing,web,wrong information given
Q2,2026-03-10 08:00,,delivery,web,parcel late
"""
FILES = {"tickets": TICKETS, "surveys": SURVEYS, "complaints": COMPLAINTS}
# How to make a warehouse lacking each input the catalog declares: files left out, columns dropped.
LACKING = {
    "tickets": ({"tickets"}, ()),
    "survey_answers": ({"surveys"}, ()),
    "answers_linked_to_tickets": (set(), ("Ticket Number",)),
    "complaints": ({"complaints"}, ("Complaint",)),
    "first_response_at": (set(), ("First Reply At",)),
    "resolved_at": (set(), ("Solved At", "Solved Date")),
    "closed_at": (set(), ("Solved At", "Solved Date")),
    "reopen_count": (set(), ("Reopens",)),
    "fcr": (set(), ("Agent Replies",)),
}


def without_columns(text: str, dropped: tuple[str, ...]) -> str:
    rows = list(csv.reader(io.StringIO(text)))
    keep = [i for i, name in enumerate(rows[0]) if name not in dropped]
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([[row[i] for i in keep] for row in rows])
    return out.getvalue()


def build(folder, left_out: set[str] = frozenset(), dropped: tuple[str, ...] = ()):
    folder.mkdir(parents=True, exist_ok=True)
    con = connect(folder / "w.duckdb")
    for kind, text in FILES.items():
        if kind not in left_out:
            ingest_file(con, write(folder / f"{kind}.csv", without_columns(text, dropped)), kind, source_tz="UTC")
    return con


def weekly(con, names: tuple[str, ...]) -> pl.DataFrame:
    return compute(con, Query(names, "week"), load_settings(as_of=AS_OF))


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    con = build(tmp_path_factory.mktemp("full"))
    yield con
    con.close()


def test_every_kpi_declares_the_inputs_it_needs_and_each_has_a_warehouse_lacking_it():
    for name, m in catalog().items():
        assert m.requires, name
    assert set(LACKING) == set(inputs())  # a new input needs its own lacking warehouse here


@pytest.mark.parametrize("needed", sorted(LACKING))
def test_a_warehouse_lacking_an_input_gives_no_data_with_the_reason_never_zero(needed, full, tmp_path):
    users = tuple(name for name, m in catalog().items() if needed in m.fields["requires"])
    with_input = weekly(full, users)
    for name in users:  # the full warehouse gives each a number, so what follows is the input's absence
        assert with_input.filter((pl.col("metric") == name) & pl.col("value").is_not_null()).height, name
    left_out, dropped = LACKING[needed]
    con = build(tmp_path / needed, left_out, dropped)
    try:
        lacking = weekly(con, users)
    finally:
        con.close()
    numbers = lacking.filter(pl.col("value").is_not_null())
    assert numbers.is_empty(), f"lacking {needed}: {numbers.select('metric', 'period_start', 'value').to_dicts()}"
    assert lacking["reason"].null_count() == 0
    assert (lacking["n"] == 0).all()
    if not left_out:  # the source is there, only the column is not: the records say so
        said = lacking.filter(pl.col("reason") == inputs()[needed].missing)["metric"].unique().to_list()
        assert said, needed


TICKETS_WITHOUT_FIRST_RESPONSE = """\
Ticket ID,Created At,Channel,Type,Resolved At
N-1,2024-03-04 09:00,mail,inquiry,2024-03-04 17:00
N-2,2024-03-05 10:00,phone,complaint,2024-03-06 10:00
N-3,2024-03-06 10:00,mail,inquiry,2024-03-06 11:30
N-4,2024-03-07 10:00,mail,inquiry,
N-5,2024-03-12 10:00,phone,inquiry,2024-03-12 18:00
"""


def test_kpis_of_an_export_without_first_responses_say_no_data_and_which_column(tmp_path):
    db = tmp_path / "w.duckdb"
    source = write(tmp_path / "tickets.csv", TICKETS_WITHOUT_FIRST_RESPONSE)
    loaded = run_cli("ingest", str(source), "--kind", "tickets", "--tz", "UTC", "--db", str(db))
    assert loaded.returncode == 0, loaded.stderr
    asked = ("kpis", "--metric", "first_response_sla", "--metric", "first_response_median",
             "--metric", "resolution_median", "--db", str(db))  # fmt: skip
    answer = run_cli(*asked, "--json")
    assert answer.returncode == 0, answer.stderr
    records = json.loads(answer.stdout)
    reason = "no first-response times in the data (column first_response_at)"
    for name in ("first_response_sla", "first_response_median"):
        mine = [r for r in records if r["metric"] == name]
        assert [r["period_start"] for r in mine] == ["2024-03-04", "2024-03-11"], name
        assert all((r["value"], r["n"], r["status"], r["reason"]) == (None, 0, "no_data", reason) for r in mine)
    resolved = [r for r in records if r["metric"] == "resolution_median"]
    assert resolved and all(r["value"] is not None and r["reason"] is None for r in resolved)
    text = run_cli(*asked)
    sla_lines = [line for line in text.stdout.splitlines() if "first_response_sla" in line]
    assert len(sla_lines) == 2 and all(" – n=0 " in line and f"no_data: {reason}" in line for line in sla_lines)
    table = pl.read_csv(io.StringIO(run_cli(*asked, "--csv").stdout))
    assert table.filter(pl.col("metric") == "first_response_sla")["reason"].to_list() == [reason, reason]


def test_answered_within_the_hour_counts_only_tickets_whose_first_answer_is_known(tmp_path):
    tickets = """\
Ticket ID,Created At,First Response At,Resolved At
A-1,2026-03-02 09:00,2026-03-02 09:30,2026-03-02 12:00
A-2,2026-03-02 10:00,,2026-03-02 11:00
A-3,2026-03-03 09:00,,
"""
    con = connect(tmp_path / "w.duckdb")
    try:
        ingest_file(con, write(tmp_path / "t.csv", tickets), "tickets", source_tz="UTC")
        sla = weekly(con, ("first_response_sla",)).row(0, named=True)
    finally:
        con.close()
    # A-1 answered in 30 minutes; A-3 still open and unanswered long past the hour: a breach.
    # A-2 was resolved with no first-response time: unknown, not missed.
    assert (sla["numerator"], sla["denominator"], sla["value"]) == (1, 2, 0.5)


def weeks_of_tickets(first: date, weeks: int, with_first_response: bool) -> str:
    """Forty tickets a week, nine in ten answered within the hour, all resolved within the day."""
    header = "Ticket ID,Created At,Channel," + ("First Response At," if with_first_response else "") + "Resolved At"
    rows = [header]
    for number in range(weeks * 40):
        created = datetime.combine(first, datetime.min.time()) + timedelta(days=number // 40 * 7 + number % 5,
                                                                           hours=9 + number % 7)  # fmt: skip
        answer = created + timedelta(minutes=150 if number % 10 == 0 else 20)
        reply = f"{answer:%Y-%m-%d %H:%M}," if with_first_response else ""
        tag = "with" if with_first_response else "without"
        rows.append(f"{tag}-{number},{created:%Y-%m-%d %H:%M},{'chat' if number % 2 else 'email'},{reply}"
                    f"{created + timedelta(hours=5):%Y-%m-%d %H:%M}")  # fmt: skip
    return "\n".join(rows) + "\n"


def test_weeks_from_an_export_without_first_responses_are_no_data_and_the_radar_does_not_judge_them(tmp_path):
    # Thirty weeks (the radar's baseline) from a tool that records first responses, then four from one that does not.
    start, switch = date(2025, 1, 6), date(2025, 8, 4)
    con = connect(tmp_path / "w.duckdb")
    try:
        ingest_file(con, write(tmp_path / "a.csv", weeks_of_tickets(start, 30, True)), "tickets", source_tz="UTC")
        ingest_file(con, write(tmp_path / "b.csv", weeks_of_tickets(switch, 4, False)), "tickets", source_tz="UTC")
        settings = load_settings(as_of=datetime(2025, 9, 1, tzinfo=UTC))
        sla = compute(con, Query(("first_response_sla",), "week"), settings).sort("period_start")
        before, after = sla.filter(pl.col("period_start") < switch), sla.filter(pl.col("period_start") >= switch)
        assert before.height == 30 and before["value"].to_list() == [0.9] * 30
        assert after.height == 4 and after["value"].null_count() == 4
        assert set(after["reason"]) == {"no first-response times in the data (column first_response_at)"}
        found = scan(con, settings, "week", since=start)
    finally:
        con.close()
    judged = [c for c in found.crises if c.metric.startswith("first_response")]
    assert judged == [], [(c.metric, c.start, c.segment) for c in judged]


def test_a_new_warehouse_in_the_same_file_is_asked_again_what_its_exports_fill(tmp_path):
    # A server stays up while a warehouse is replaced: what the first one's exports filled is not the second's.
    path = tmp_path / "w.duckdb"
    for tickets, expected in ((TICKETS, [1 / 3, 0.0]), (without_columns(TICKETS, ("Complaint",)), [None, None])):
        path.unlink(missing_ok=True)
        con = connect(path)
        try:
            ingest_file(con, write(tmp_path / "t.csv", tickets), "tickets", source_tz="UTC")
            rates = compute(con, Query(("complaint_rate",), "week"), load_settings(as_of=AS_OF)).sort("period_start")
        finally:
            con.close()
        assert rates["value"].to_list() == expected  # K2 of K1-K3 a complaint; none of K4, K5


def test_a_load_into_the_same_warehouse_is_asked_again_what_its_exports_fill(tmp_path):
    # What the exports fill is cached by warehouse and version: one metric or all ask it once, and a load
    # (an export without first responses) must make the next answer look again, on the same connection.
    start, switch = date(2025, 1, 6), date(2025, 2, 3)
    con = connect(tmp_path / "w.duckdb")
    settings = load_settings(as_of=datetime(2025, 3, 3, tzinfo=UTC))
    try:
        ingest_file(con, write(tmp_path / "a.csv", weeks_of_tickets(start, 4, True)), "tickets", source_tz="UTC")
        before = compute(con, Query(("first_response_sla", "ticket_volume"), "week"), settings)
        ingest_file(con, write(tmp_path / "b.csv", weeks_of_tickets(switch, 2, False)), "tickets", source_tz="UTC")
        after = compute(con, Query(("first_response_sla", "ticket_volume"), "week"), settings)
    finally:
        con.close()
    sla = pl.col("metric") == "first_response_sla"
    assert before.filter(sla)["value"].to_list() == [0.9] * 4
    new_weeks = after.filter(sla & (pl.col("period_start") >= switch))
    assert new_weeks.height == 2 and new_weeks["value"].null_count() == 2
    assert set(new_weeks["reason"]) == {"no first-response times in the data (column first_response_at)"}
