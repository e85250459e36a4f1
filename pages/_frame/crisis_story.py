"""The crisis page's story: where the crisis sits, its cause in one sentence, the numbers behind, and
what customers said (metrics/views/crisis_story.py decides what; this only shows it)."""

from __future__ import annotations

import streamlit as st

from metrics.kpis.scope import View
from metrics.kpis.settings import load_settings
from metrics.views.crisis_story import Story, crisis_story
from pages._frame.display import table
from pages._frame.language import t
from pages._frame.questions import CACHE_TTL_SECONDS
from pages._frame.signin import limited
from pages._frame.warehouse import db
from pipelines.common.names import markdown_text
from pipelines.warehouse.store import connect_for_reading


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner="Reading what customers said…")
def _story(db_path: str, view: View, crisis: dict) -> Story:
    # Cached: the comments of a place are read and segmented once a minute, not on every click.
    con = connect_for_reading(db_path)
    try:
        return crisis_story(con, load_settings(), view, crisis)
    finally:
        con.close()


def show_story(view: View, crisis: dict) -> None:
    """The place, the cause, the numbers behind (one click away) and the rising words with example comments."""
    story = _story(db(), limited(view), crisis)
    number = crisis["crisis_id"]
    st.subheader(t("Why it happened"))
    # Segment names and comments are the data's own text: shown as typed, never as markdown.
    st.markdown(f"**{t('Where')}:** {markdown_text(story.place)} · {story.window}")
    st.markdown(markdown_text(story.cause.sentence))
    with st.expander(t("The numbers behind")):
        if story.numbers.is_empty():
            st.caption(t("No segment breakdown is recorded for this crisis."))
        else:
            st.caption(
                t("Each segment's share of the change splits into its own change and the change of its weight (mix).")
            )
            numbers = story.numbers.rename({c: t(c) for c in story.numbers.columns})
            table(numbers, f"crisis {number} contributors", key="contributors")
    st.subheader(t("What customers say"))
    for note in story.notes:
        st.caption(t(note))
    if not story.has_comments:
        st.info(t("No comments recorded for this place."))
        return
    during, before = f"{story.comments_during:,}", f"{story.comments_before:,}"
    st.caption(f"{during} {t('comments in the crisis')}, {before} {t('in the baseline before')}.")
    if story.words.is_empty():
        st.caption(t("No word or phrase rose beyond noise against the baseline."))
        return
    table(story.words.rename({c: t(c) for c in story.words.columns}), f"crisis {number} words", key="rising_words")
    for term in story.words["Word or phrase"].to_list():
        with st.expander(f"“{term}”"):
            for comment in story.examples.get(term, []):
                st.markdown(f"> {markdown_text(comment)}")
