"""Every table a page shows reads as words: no code names as headers, no "None", no midnight times.

The tables go through ``pages/_frame/display.table`` and ``metrics.kpis.presentation``; this opens
each page of the demo warehouse in Streamlit's AppTest and reads what the tables hold.
"""

from __future__ import annotations

import re
import shutil

import pytest
from streamlit.testing.v1 import AppTest

from pipelines.warehouse.store import connect
from tests.conftest import ROOT
from tests.crises.reflagged import reflag

PAGES = ("overview", "trends", "service_levels", "complaints", "crisis_radar", "quarterly_review", "upload", "admin")


@pytest.fixture(scope="module")
def warehouse(demo, tmp_path_factory):
    db = tmp_path_factory.mktemp("tables") / "demo.duckdb"
    shutil.copy(demo[0], db)
    con = connect(db)
    reflag(con, 2)  # open crises, so the crisis page shows one with its records
    con.close()
    return db


def shown_tables(db, page: str, language: str = "en"):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CSAT_RADAR_DB", str(db))
        app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
        app.query_params["lang"] = language
        app.run()
        if page != "overview":
            app.switch_page(f"pages/{page}.py")
            app.run()
        assert not app.exception, app.exception
        return [frame.value for frame in app.dataframe]


@pytest.mark.parametrize("page", PAGES)
def test_every_table_on_the_page_reads_as_words(warehouse, page):
    for frame in shown_tables(warehouse, page):
        for header in frame.columns:
            assert "_" not in str(header), f"{page}: header {header!r} is a code name"
        cells = frame.astype(str)
        for header in frame.columns:
            texts = set(cells[header])
            assert not texts & {"None", "nan", "NaN", "null", "<NA>", "NaT"}, f"{page}: {header} shows {texts}"
            assert not any("00:00:00" in t for t in texts), f"{page}: {header} shows midnight times"
            assert not any(re.fullmatch(r"0\.\d{3,}", t) for t in texts), f"{page}: {header} shows a raw fraction"


@pytest.mark.parametrize("page", ("trends", "service_levels", "quarterly_review", "crisis_radar"))
def test_in_chinese_every_table_header_is_chinese(warehouse, page):
    for frame in shown_tables(warehouse, page, "zh"):
        english = [h for h in frame.columns if re.search(r"[A-Za-z]{3,}", str(h))]
        assert not english, f"{page}: headers left in English: {english}"
