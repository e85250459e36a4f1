"""Segments that exist: a file without channel, team or product raises one crisis of the organisation, not six.

Each history is written as a user's own CSV files, loaded with the real command line into a
fresh warehouse and scanned with ``crises --json``: 20 weeks of survey answers with a clear
three-week dip in CSAT, everywhere or in one team only.
"""

from __future__ import annotations

import csv
import json
import random
from datetime import datetime, timedelta
from pathlib import Path

from tests.conftest import run_cli

START = datetime(2026, 3, 2, 8)
DAYS = 140
DIP = range(70, 91)  # three weeks, from 2026-05-11


def answers(folder: Path, team_of, dips, tickets_header: list[str] | None, ticket_row) -> list[Path]:
    """Surveys (and, with ``tickets_header``, the tickets they answer): 40 a day, 85% satisfied, 45% in a dip.

    ``team_of(i)`` places answer ``i``; ``dips(team)`` says whether that place dips.
    """
    rng = random.Random(11)
    surveys, tickets = [], []
    for day in range(DAYS):
        for k in range(40):
            i = day * 40 + k
            at = START + timedelta(days=day, minutes=13 * k)
            team = team_of(i)
            satisfied = rng.random() < (0.45 if day in DIP and dips(team) else 0.85)
            score = rng.choice([4, 5]) if satisfied else rng.choice([1, 2, 3])
            surveys.append([f"A-{i:05d}", f"T-{i:05d}", at.strftime("%d/%m/%Y %H:%M"), score])
            tickets.append(ticket_row(f"T-{i:05d}", at - timedelta(hours=3), team))
    paths = [folder / "answers.csv"]
    with paths[0].open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["Response ID", "Ticket ID", "Answered At", "Score"])
        writer.writerows(surveys)
    if tickets_header:
        paths.insert(0, folder / "tickets.csv")
        with paths[0].open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(tickets_header)
            writer.writerows(tickets)
    return paths


def crises_after_loading(folder: Path, paths: list[Path]) -> list[dict]:
    db = folder / "warehouse.duckdb"
    for path in paths:
        kind = "tickets" if path.name == "tickets.csv" else "surveys"
        loaded = run_cli("ingest", "--db", str(db), "--kind", kind, "--tz", "UTC", str(path))
        assert loaded.returncode == 0, loaded.stderr
        assert " 0 rejected" in loaded.stdout, loaded.stdout
    found = run_cli("crises", "--db", str(db), "--json", "--since", "2026-03-01")
    assert found.returncode == 0, found.stderr
    return json.loads(found.stdout)


def test_an_organisation_wide_dip_in_a_file_without_segments_is_one_crisis_of_the_whole_organisation(tmp_path):
    paths = answers(tmp_path, lambda i: "", lambda team: True, None, lambda *_: [])

    crises = crises_after_loading(tmp_path, paths)

    assert [(c["metric"], c["dimension"], c["segment"]) for c in crises] == [("csat", "overall", "all")]
    assert crises[0]["reason"].startswith("CSAT of the whole organisation drifted down"), crises[0]["reason"]
    assert crises[0]["start"] == "2026-05-11"
    # Nor is a dimension nobody recorded its driver.
    assert not [c for c in crises[0]["contributors"] if c["segment"] == "(none)"]


def test_a_dimension_with_one_value_for_every_row_reports_the_organisations_crisis_once(tmp_path):
    header = ["Ticket ID", "Created At", "Channel", "Team"]
    paths = answers(
        tmp_path, lambda i: "", lambda team: True, header,
        lambda ticket, at, team: [ticket, at.strftime("%d/%m/%Y %H:%M"), "Email", team],
    )  # fmt: skip

    crises = crises_after_loading(tmp_path, paths)

    assert [(c["metric"], c["dimension"]) for c in crises if c["metric"] == "csat"] == [("csat", "overall")]
    assert not [c for c in crises if c["dimension"] == "channel" or c["segment"] == "(none)"]


def test_a_dip_in_one_team_is_still_that_teams_crisis_and_a_few_blank_teams_are_no_segment(tmp_path):
    header = ["Ticket ID", "Created At", "Team"]
    # Every 40th ticket has no team (2.5%): rows someone did not fill in, not a team.
    paths = answers(
        tmp_path,
        lambda i: "" if i % 40 == 7 else ("Returns" if i % 2 else "Billing"),
        lambda team: team == "Returns",
        header,
        lambda ticket, at, team: [ticket, at.strftime("%d/%m/%Y %H:%M"), team],
    )

    crises = crises_after_loading(tmp_path, paths)

    # Early warnings aside (a chance slide of the other team, graded observe), the dip is one crisis.
    places = {
        (c["dimension"], c["segment"]) for c in crises if c["metric"] == "csat" and not c["evidence"]["early_warning"]
    }
    assert places == {("team", "Returns")}, crises
    assert all(c["severity"] == "observe" for c in crises if c["evidence"]["early_warning"])
    assert not [c for c in crises if c["segment"] == "(none)"]
