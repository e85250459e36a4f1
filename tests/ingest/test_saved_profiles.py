"""Saved profiles: a mapping confirmed once is kept in the warehouse and reads the next file of that shape unasked."""

from __future__ import annotations

import json

import duckdb
import pytest

from pipelines.common.errors import IngestError
from pipelines.ingest import ingest_file, preview_file
from pipelines.stage.saved_profiles import SavedProfile, detect_profile, header_set, saved_profiles
from tests.conftest import run_cli, write

# A help desk nobody wrote a profile for: two columns are unique and neither is named like an id,
# so no guess is sure which one is the ticket's; 'Chan.' is no usual name for a channel.
HEADERS = "Dossier,Badge,Logged On,Closed On,Chan.\n"
FIRST = HEADERS + "".join(
    f"D-10{n},B{n}7,2026-05-0{n} 09:00,2026-05-0{n} 17:30,{channel}\n"
    for n, channel in zip(range(1, 7), ["Web", "Phone", "Web", "Mail", "Chat", "Web"], strict=True)
)
SECOND = HEADERS + "".join(
    f"D-20{n},B{n}9,2026-06-0{n} 08:15,2026-06-0{n} 12:00,{channel}\n"
    for n, channel in zip(range(1, 6), ["Phone", "Web", "Web", "Chat", "Mail"], strict=True)
)
# The same columns spelled as another export of the tool writes them: one header set.
RESPELLED = "dossier,BADGE,logged_on,closed-on,chan\n" + SECOND.split("\n", 1)[1]


def test_a_file_of_that_desk_needs_its_id_named(con, tmp_path):
    with pytest.raises(IngestError, match="no column for ticket_id"):
        ingest_file(con, write(tmp_path / "desk.csv", FIRST), "tickets", source_tz="UTC")


def test_a_saved_profile_reads_the_next_file_with_those_headers_and_no_other(con, tmp_path):
    first = ingest_file(con, write(tmp_path / "may.csv", FIRST), "tickets", source_tz="Europe/Paris",
                        mapping={"ticket_id": "Dossier", "channel": "Chan."}, save_profile=" acme-desk ")  # fmt: skip
    assert (first.rows_loaded, first.rows_rejected) == (6, 0)
    saved = saved_profiles(con)["acme-desk"]
    assert (saved.kind, saved.source_tz, saved.based_on) == ("tickets", "Europe/Paris", "generic")
    assert saved.columns["ticket_id"] == ("Dossier",) and saved.columns["channel"] == ("Chan.",)
    assert saved.columns["closed_at"] == ("Closed On",)  # the guess the load used is part of what was confirmed

    second = ingest_file(con, write(tmp_path / "june.csv", RESPELLED), "tickets")  # no mapping, no zone
    assert (second.profile, second.rows_loaded, second.rows_rejected) == ("acme-desk", 5, 0)
    rows = con.sql(
        "SELECT ticket_id, channel, created_at FROM tickets WHERE ticket_id = 'D-201'"
    ).fetchall()  # read in the zone saved with the profile: 08:15 in Paris is 06:15 UTC
    assert [(r[0], r[1], r[2].astimezone().utctimetuple()[3:5]) for r in rows] == [("D-201", "Phone", (6, 15))]
    assert con.sql("SELECT count(*) FROM tickets").fetchall() == [(11,)]

    # Another set of headers (a column more), or another kind, is not read with it.
    other = HEADERS.strip() + ",Agent\n" + "D-301,B1,2026-06-01 08:00,2026-06-01 09:00,Web,Ana\n" * 1
    with pytest.raises(IngestError, match="no column for ticket_id"):
        preview_file(other.encode(), "tickets", "other.csv", source_tz="UTC", saved=saved_profiles(con))
    assert detect_profile("complaints", RESPELLED.split("\n")[0].split(","), "x.csv", None, saved_profiles(con)).name \
        != "acme-desk"  # fmt: skip


def test_detection_prefers_the_saved_profile_whose_folded_headers_are_the_file_s():
    saved = {
        "acme-desk": SavedProfile(
            "acme-desk",
            "tickets",
            header_set(["Dossier", "Logged On"]),
            {"ticket_id": ("Dossier",), "created_at": ("Logged On",)},
        ),
    }
    assert detect_profile("tickets", ["LOGGED_ON", "dossier"], "a.csv", None, saved).name == "acme-desk"
    assert detect_profile("tickets", ["Dossier", "Logged On", "Team"], "b.csv", None, saved).name == "generic"
    assert detect_profile("tickets", ["Dossier"], "c.csv", "acme-desk", saved).name == "acme-desk"  # named: used
    with pytest.raises(IngestError, match="saved for tickets, not surveys"):
        detect_profile("surveys", ["Dossier", "Logged On"], "d.csv", "acme-desk", saved)


def test_a_built_in_profile_s_name_is_refused_before_anything_is_loaded(con, tmp_path):
    path = write(tmp_path / "may.csv", FIRST)
    with pytest.raises(IngestError, match="'generic' is a built-in profile; save the mapping under another name"):
        ingest_file(con, path, "tickets", source_tz="UTC", mapping={"ticket_id": "Dossier"}, save_profile="generic")
    assert con.sql("SELECT count(*) FROM batches").fetchall() == [(0,)]


def test_ingest_save_profile_on_the_command_line_then_the_next_file_loads_without_map(tmp_path):
    db = tmp_path / "cli.duckdb"
    may, june = write(tmp_path / "may.csv", FIRST), write(tmp_path / "june.csv", SECOND)
    asked = run_cli("ingest", str(june), "--kind", "tickets", "--tz", "UTC", "--db", str(db))
    assert asked.returncode != 0
    assert "no column for ticket_id" in asked.stderr
    assert "; name the column with --map ticket_id=COLUMN" in asked.stderr  # the command line's own hint

    saved = run_cli("ingest", str(may), "--kind", "tickets", "--tz", "UTC", "--map", "ticket_id=Dossier",
                    "--map", "channel=Chan.", "--save-profile", "acme-desk", "--db", str(db))  # fmt: skip
    assert saved.returncode == 0, saved.stderr
    assert "columns saved as profile 'acme-desk'" in saved.stdout

    again = run_cli("ingest", str(june), "--kind", "tickets", "--tz", "UTC", "--json", "--db", str(db))
    assert again.returncode == 0, again.stderr
    record = json.loads(again.stdout)
    assert (record["profile"], record["rows_loaded"], record["rows_rejected"]) == ("acme-desk", 5, 0)
    con = duckdb.connect(str(db), read_only=True)
    assert con.sql("SELECT count(*), count(DISTINCT channel) FROM tickets").fetchall() == [(11, 4)]
    assert con.sql("SELECT name, kind FROM saved_profiles").fetchall() == [("acme-desk", "tickets")]
    con.close()

    refused = run_cli("ingest", str(may), "--kind", "tickets", "--save-profile", "zendesk", "--db", str(db))
    assert refused.returncode != 0 and "'zendesk' is a built-in profile" in refused.stderr


def test_a_guess_set_to_no_column_is_not_read(con, tmp_path):
    """The mapper's "(none)" (``--map closed_at=``): a wrong guess can be taken back, and no guess returns it."""
    path = write(tmp_path / "may.csv", FIRST)
    guessed = preview_file(path.read_bytes(), "tickets", "may.csv", mapping={"ticket_id": "Dossier"}, source_tz="UTC")
    assert guessed.mapping["closed_at"] == ["Closed On"]
    unmapped = preview_file(path.read_bytes(), "tickets", "may.csv", source_tz="UTC",
                            mapping={"ticket_id": "Dossier", "closed_at": ""})  # fmt: skip
    assert "closed_at" not in unmapped.mapping and "Closed On" in unmapped.unmapped
