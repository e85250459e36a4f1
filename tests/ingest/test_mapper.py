"""The column mapper's facts: every field of a kind, the column proposed for it and why, and the file's samples."""

from __future__ import annotations

from pipelines.read.export import read_export
from pipelines.stage.mapper import column_choices
from pipelines.stage.saved_profiles import detect_profile

ANSWERS = "Serial,Reviewer,Answered,Mark,Remarks\n" + "".join(
    f"Q{n},person{n}@example.com,2026-04-0{n} 10:00,{n % 5 + 1},fine\n" for n in range(1, 8)
)


def choices_for(text: str, kind: str):
    raw = read_export(text.encode(), "answers.csv")
    return column_choices(raw, kind, detect_profile(kind, raw.source_columns, "answers.csv"))


def test_every_field_is_offered_required_first_with_the_guess_and_its_reason():
    choices = choices_for(ANSWERS, "surveys")
    fields = {f.column: f for f in choices.fields}
    assert [f.column for f in choices.fields[:4]] == ["response_id", "ticket_id", "responded_at", "score"]
    assert fields["response_id"].need == "required, or ticket_id" and fields["comment"].need == ""
    assert "is_satisfied" not in fields  # computed from the score, never read from a file
    assert fields["score"].choice == "Mark" and fields["score"].why.startswith("guessed: whole numbers from 1 to 5")
    assert fields["score"].why.endswith("(85%)")
    assert fields["responded_at"].choice == "Answered"
    # Two columns are unique and neither is named like an id: the id is asked for, the likelier one named.
    assert fields["response_id"].choice == "" and fields["response_id"].why.startswith("perhaps 'Serial': ")
    assert choices.samples["Mark"] == ("2", "3", "4")
    assert choices.samples["Reviewer"] == ("p***@example.com",)  # masked as the page masks personal data


def test_only_the_changed_fields_go_back_as_overrides_and_a_missing_id_is_named_once():
    choices = choices_for(ANSWERS, "surveys")
    proposed = {f.column: f.choice for f in choices.fields}
    assert choices.overrides(proposed) == {}
    changed = {**proposed, "response_id": "Serial", "score": ""}
    assert choices.overrides(changed) == {"response_id": "Serial", "score": ""}
    assert choices.missing(proposed) == ["response_id or ticket_id"]
    assert choices.missing(changed) == ["score"]
    assert choices.missing({**proposed, "ticket_id": "Serial"}) == []
