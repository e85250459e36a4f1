"""The crisis page tells a crisis's story: where it sits, its cause in one sentence, the numbers
behind one click away, and the words customers used more, each with example comments."""

from __future__ import annotations

import shutil

import duckdb
import pytest
from streamlit.testing.v1 import AppTest

from metrics.crises.causes import cause
from metrics.crises.log import get_crisis, list_crises
from metrics.kpis.scope import View
from metrics.kpis.settings import load_settings
from metrics.views.crisis_story import crisis_story
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def demo_story(demo, tmp_path_factory):
    """A copy of the session's demo and the crisis with the most comments whose words rose, with its story."""
    db = tmp_path_factory.mktemp("story") / "demo.duckdb"
    shutil.copy(demo[0], db)
    con = duckdb.connect(str(db), read_only=True)
    try:
        stories = []
        for crisis_id in list_crises(con)["crisis_id"].to_list():
            crisis = get_crisis(con, crisis_id)
            story = crisis_story(con, load_settings(), View(), crisis)
            if cause(crisis["metric"], crisis["contributors"]).kind == "named" and not story.words.is_empty():
                stories.append((story.comments_during, crisis, story))
    finally:
        con.close()
    assert stories, "the demo has a crisis with a named cause and rising words"
    _, crisis, story = max(stories, key=lambda s: s[0])
    return db, crisis, story


def open_crisis(db, crisis_id: int, monkeypatch, lang: str | None = None) -> AppTest:
    monkeypatch.setenv("CSAT_RADAR_DB", str(db))
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    app.query_params["crisis"] = str(crisis_id)
    if lang:
        app.query_params["lang"] = lang
    app.run()
    app.switch_page("pages/crisis_radar.py")
    app.run()
    assert not app.exception, app.exception
    return app


def test_the_crisis_page_shows_the_place_the_cause_and_the_rising_words_with_examples(demo_story, monkeypatch):
    db, crisis, story = demo_story
    app = open_crisis(db, crisis["crisis_id"], monkeypatch)
    subheaders = [s.value for s in app.subheader]
    assert "Why it happened" in subheaders and "What customers say" in subheaders
    shown = [m.value for m in app.markdown]
    place = f"{crisis['dimension']} {crisis['segment']}"
    assert any(m.startswith("**Where:**") and place in m for m in shown)
    sentence = cause(crisis["metric"], crisis["contributors"]).sentence
    assert any(m.replace("\\", "") == sentence for m in shown), sentence
    assert sentence.split(" carries ")[1].split("%")[0]  # a share in percent, not 0.58
    # The numbers behind, in plain words, and the words, each a table.
    tables = {tuple(d.value.columns) for d in app.dataframe}
    assert any("Share of the change" in columns and "Adjusted p (BH)" in columns for columns in tables)
    assert not any("rate_effect" in columns or "q_value" in columns for columns in tables)
    words = next(d.value for d in app.dataframe if "Word or phrase" in d.value.columns)
    assert list(words["Word or phrase"]) == story.words["Word or phrase"].to_list()
    # Each word's example comments, in an expander of its own.
    labels = [e.label for e in app.expander]
    first = story.words["Word or phrase"][0]
    assert f"“{first}”" in labels
    quotes = [m.value for m in app.markdown if m.value.startswith("> ")]
    assert len(quotes) >= len(story.words)
    assert any(first.split(" ")[0] in q.lower() for q in quotes)


def test_the_crisis_story_in_chinese(demo_story, monkeypatch):
    db, crisis, _ = demo_story
    app = open_crisis(db, crisis["crisis_id"], monkeypatch, lang="zh")
    subheaders = [s.value for s in app.subheader]
    assert "原因分析" in subheaders and "客户怎么说" in subheaders
    sentence = cause(crisis["metric"], crisis["contributors"], lang="zh").sentence
    assert "承担了" in sentence
    assert any(m.value.replace("\\", "") == sentence for m in app.markdown)
    assert any("词语" in d.value.columns for d in app.dataframe)


def test_a_crisis_placed_at_a_pair_reads_the_pair_s_comments_only(demo_story):
    db, crisis, story = demo_story
    con = duckdb.connect(str(db), read_only=True)
    try:
        regions = [r for (r,) in con.sql("SELECT DISTINCT region FROM tickets WHERE region IS NOT NULL").fetchall()]
        paired = {**crisis, "evidence": {**(crisis["evidence"] or {}), "paired_with": f"region {regions[0]}"}}
        narrowed = crisis_story(con, load_settings(), View(), paired)
    finally:
        con.close()
    assert narrowed.place == f"{story.place} and region {regions[0]}"
    assert 0 < narrowed.comments_during < story.comments_during
