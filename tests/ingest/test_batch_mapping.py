"""A batch records how its columns were found: chosen by the user, or guessed with a reason and a confidence."""

from __future__ import annotations

import json

from pipelines.ingest import ingest_file
from tests.conftest import write

# No profile knows these names: the id is told by its name and values, the times by their order.
DESK = "Case Ref,Logged On,Closed On,Chan.\n" + "".join(
    f"CR-{n},2026-05-0{n} 09:00,2026-05-0{n} 17:0{n},Web\n" for n in range(1, 7)
)


def test_the_batch_mapping_says_which_columns_were_guessed_and_why(con, tmp_path):
    result = ingest_file(con, write(tmp_path / "desk.csv", DESK), "tickets", source_tz="UTC",
                         mapping={"channel": "Chan."})  # fmt: skip
    assert (result.rows_loaded, result.rows_rejected) == (6, 0)
    recorded = json.loads(con.sql(f"SELECT mapping FROM batches WHERE batch_id = {result.batch_id}").fetchall()[0][0])
    assert recorded["chosen"] == {"channel": "Chan."}
    guessed = {g["column"]: g for g in recorded["guessed"]}
    assert {c: g["source"] for c, g in guessed.items()} == {
        "ticket_id": "Case Ref",
        "created_at": "Logged On",
        "closed_at": "Closed On",
    }
    assert "no two are alike" in guessed["ticket_id"]["reason"] and guessed["ticket_id"]["confidence"] >= 0.8
    assert "never before 'Logged On'" in guessed["closed_at"]["reason"]
    assert recorded["columns"]["ticket_id"] == ["Case Ref"]


def test_the_load_result_carries_the_moment_its_export_describes(con, tmp_path):
    result = ingest_file(con, write(tmp_path / "desk.csv", DESK), "tickets", source_tz="UTC",
                         mapping={"channel": "Chan."})  # fmt: skip
    assert result.to_json()["as_of"] == "2026-05-06T17:06:00+00:00"  # its latest event: the last closing
