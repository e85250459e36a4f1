"""The radar never judges a period cut short: the week the data starts in, if it starts mid-week, is no drop.

The data here starts on Thursday 2026-04-16: its first week holds four days of tickets (24
against 42 in every whole week), which judged as a week would read as a fall in volume.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from metrics.crises.radar import scan
from metrics.crises.series import scanned_series
from metrics.kpis.settings import settings_for
from pipelines.ingest import ingest_file
from tests.conftest import daily_tickets, write

PARTIAL_WEEK = date(2026, 4, 13)


@pytest.fixture
def starts_mid_week(con, tmp_path):
    export = write(tmp_path / "cases.csv", daily_tickets(date(2026, 4, 16), date(2026, 6, 28)))
    ingest_file(con, export, "tickets", source_tz="UTC", as_of=datetime(2026, 6, 29, tzinfo=UTC))
    return con


def test_the_week_the_data_starts_in_is_not_in_the_series_the_radar_judges(starts_mid_week):
    proportions, volumes, levels = scanned_series(starts_mid_week, settings_for(starts_mid_week), "week")
    assert not volumes.is_empty() and not proportions.is_empty() and not levels.is_empty()
    for judged in (proportions, volumes, levels):
        assert judged["period_start"].min() == date(2026, 4, 20), judged.sort("period_start").head(3)
    # Every whole week is judged, up to the last one the export describes.
    assert sorted(volumes.filter(volumes["dimension"] == "overall")["count"].unique()) == [42.0]


def test_no_crisis_is_raised_in_the_week_the_data_starts_in(starts_mid_week):
    found = scan(starts_mid_week, settings_for(starts_mid_week), "week", explain=False)
    assert [c for c in found.crises if c.start <= PARTIAL_WEEK] == []
