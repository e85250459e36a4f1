"""What the pages read: the sidebar's view, cached questions of the view-models, uncached reads, the summary.

Every read is limited here to the current actor's segments, whichever view the page built, and
runs on a short-lived read-only connection (the command line can load while the app runs).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import polars as pl
import streamlit as st

from metrics.kpis.catalog import FILTER_DIMENSIONS
from metrics.kpis.scope import View
from metrics.kpis.settings import load_settings
from metrics.views import dashboard
from metrics.views.summary import WarehouseSummary, warehouse_summary
from pages._frame.language import language, t
from pages._frame.signin import current_actor, limited
from pages._frame.warehouse import db, warehouse_path
from pipelines.warehouse.store import connect_for_reading

CACHE_TTL_SECONDS = 60


def current_view() -> View:
    """The global filters the sidebar holds (app.py keeps them in the session and the URL).

    The view carries the actor's segments as its limit and narrows itself to them, so a user
    limited to some segments gets them whatever the sidebar or the URL asks for.
    """
    segments = tuple(
        (dimension, tuple(sorted(st.session_state.get(f"filter_{dimension}") or ())))
        for dimension in FILTER_DIMENSIONS
        if st.session_state.get(f"filter_{dimension}")
    )
    dates = st.session_state.get("filter_dates") or ()
    date_from = dates[0] if len(dates) > 0 else None
    date_to = dates[1] if len(dates) > 1 else None
    return View(date_from, date_to, segments, language(), limit=current_actor().segments)


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def load_summary(db_path: str) -> WarehouseSummary:
    # A short-lived connection per question: the command line can load while the app runs.
    con = connect_for_reading(db_path)
    try:
        return warehouse_summary(con)
    finally:
        con.close()


def batch_history() -> pl.DataFrame:
    """The latest loads; a limited user sees only their own, as the others' hold the whole organisation."""
    actor = current_actor()
    return _batches(db(), actor.name if actor.segments else None)


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def _batches(db_path: str, loaded_by: str | None) -> pl.DataFrame:
    con = connect_for_reading(db_path)
    try:
        return warehouse_summary(con, loaded_by=loaded_by).recent_batches
    finally:
        con.close()


def ask(question: Callable[..., Any], db_path: str, view: View | None, *args: Any) -> Any:
    """Answer one question of ``metrics.views.dashboard`` (the function itself), cached for a minute.

    ``ask(dashboard.headline_tiles, db(), view)`` runs ``headline_tiles(con, settings, view)``; a
    question in ``dashboard.VIEWLESS_QUESTIONS`` is asked with no view and runs as ``question(con)``.
    Every view is limited here to the current actor's segments, whichever view the page built.
    """
    if view is not None:
        view = limited(view)
    elif question not in dashboard.VIEWLESS_QUESTIONS:
        raise ValueError(f"{question.__name__} needs a view: ask it with current_view()")
    # The cache knows a question by its qualified name: Streamlit does not hash the function itself.
    # The spinner is the page's, in its language (a cached function's own spinner text is fixed);
    # Streamlit shows it only after half a second, so a cached answer shows none.
    with st.spinner(t("Computing…")):
        return _ask(f"{question.__module__}.{question.__qualname__}", question, db_path, view, *args)


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def _ask(name: str, _question: Callable[..., Any], db_path: str, view: View | None, *args: Any) -> Any:
    con = connect_for_reading(db_path)
    try:
        if view is None:
            return _question(con, *args)
        return _question(con, load_settings(), view, *args)
    finally:
        con.close()


def read(function, *args: Any, **kwargs: Any) -> Any:
    """An uncached read (for records and single crises, which change with every action).

    A view among the arguments is limited to the current actor's segments, as in ``ask``.
    """
    args = tuple(limited(a) for a in args)
    con = connect_for_reading(str(warehouse_path()))
    try:
        return function(con, *args, **kwargs)
    finally:
        con.close()
