"""What the pages read: the sidebar's view, cached questions of the view-models, uncached reads, the summary.

Every read is limited here to the current actor's segments, whichever view the page built, and
runs on a short-lived connection (the command line can load while the app runs: a connection
held open for good would keep its load waiting).

Cached answers are shared by every session of the server and keyed on the warehouse's data
version, so twenty managers opening a page together compute it once (Streamlit lets one session
compute a missing answer while the others wait for it), and the first page after a load, from
the command line or the app, shows the new numbers. The version is read from the warehouse only
when its files changed (a stat per run; on a lake, the lake's manifests too), and writes through
the app clear every answer anyway.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import polars as pl
import streamlit as st

from metrics.kpis.catalog import FILTER_DIMENSIONS
from metrics.kpis.cube import data_version
from metrics.kpis.scope import View
from metrics.kpis.settings import load_settings
from metrics.reports.review import QuarterlyReview, quarterly_review
from metrics.views import dashboard
from metrics.views.summary import WarehouseSummary, warehouse_summary
from pages._frame.language import language, t
from pages._frame.signin import current_actor, limited
from pages._frame.warehouse import db, warehouse_path
from pipelines.warehouse.lake_files import LAKE_ENV, lake_signature
from pipelines.warehouse.store import SNAPSHOT_SUFFIX, connect_for_reading

# A load changes the data version and so the keys: the time limit only bounds how long an edit
# of the targets file outside the app waits to be seen, and how long an unused answer is kept.
CACHE_TTL_SECONDS = 600
# Answers kept per question: every filter combination the sessions ask is one entry.
CACHE_ENTRIES = 256


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


def _files_signature(db_path: str) -> tuple:
    """What the warehouse's files look like now: any commit (a load, an undo) or reading copy changes it."""
    signature = []
    for suffix in ("", ".wal", SNAPSHOT_SUFFIX):
        try:
            found = os.stat(db_path + suffix)
            signature.append((suffix, found.st_mtime_ns, found.st_size, found.st_ino))
        except OSError:
            signature.append((suffix, None))
    if os.environ.get(LAKE_ENV):  # on a lake's sidecar the data is the lake's files: a new export is a new version
        signature.extend(lake_signature(os.environ[LAKE_ENV]))
    return tuple(signature)


def warehouse_version(db_path: str) -> str:
    """The data version of the warehouse now (``metrics.kpis.cube.data_version``): part of every cached answer's key."""
    return _version(db_path, _files_signature(db_path))


@st.cache_data(ttl=CACHE_TTL_SECONDS, max_entries=CACHE_ENTRIES, show_spinner=False)
def _version(db_path: str, files: tuple) -> str:
    con = connect_for_reading(db_path)
    try:
        return data_version(con)
    finally:
        con.close()


def load_summary(db_path: str) -> WarehouseSummary:
    return _summary(db_path, warehouse_version(db_path))


@st.cache_data(ttl=CACHE_TTL_SECONDS, max_entries=CACHE_ENTRIES, show_spinner=False)
def _summary(db_path: str, version: str) -> WarehouseSummary:
    # A short-lived connection per question: the command line can load while the app runs.
    con = connect_for_reading(db_path)
    try:
        return warehouse_summary(con)
    finally:
        con.close()


def batch_history() -> pl.DataFrame:
    """The latest loads; a limited user sees only their own, as the others' hold the whole organisation."""
    actor = current_actor()
    return _batches(db(), warehouse_version(db()), actor.name if actor.segments else None)


@st.cache_data(ttl=CACHE_TTL_SECONDS, max_entries=CACHE_ENTRIES, show_spinner=False)
def _batches(db_path: str, version: str, loaded_by: str | None) -> pl.DataFrame:
    con = connect_for_reading(db_path)
    try:
        return warehouse_summary(con, loaded_by=loaded_by).recent_batches
    finally:
        con.close()


def ask(question: Callable[..., Any], db_path: str, view: View | None, *args: Any) -> Any:
    """Answer one question of ``metrics.views.dashboard`` (the function itself), cached at this data version.

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
        name = f"{question.__module__}.{question.__qualname__}"
        return _ask(name, question, db_path, warehouse_version(db_path), view, *args)


@st.cache_data(ttl=CACHE_TTL_SECONDS, max_entries=CACHE_ENTRIES, show_spinner=False)
def _ask(name: str, _question: Callable[..., Any], db_path: str, version: str, view: View | None, *args: Any) -> Any:
    con = connect_for_reading(db_path)
    try:
        if view is None:
            return _question(con, *args)
        return _question(con, load_settings(), view, *args)
    finally:
        con.close()


def review_of(quarter: str, view: View) -> QuarterlyReview:
    """The quarterly review of ``quarter`` within the view's segments, cached like ``ask``'s answers.

    Its own signature (the quarter first) keeps it out of ``ask``; it is the heaviest page to
    compute, so every session at the same data version shares one computation.
    """
    with st.spinner(t("Computing…")):
        return _review(db(), warehouse_version(db()), quarter, limited(view))


@st.cache_data(ttl=CACHE_TTL_SECONDS, max_entries=CACHE_ENTRIES, show_spinner=False)
def _review(db_path: str, version: str, quarter: str, view: View) -> QuarterlyReview:
    con = connect_for_reading(db_path)
    try:
        return quarterly_review(con, quarter, load_settings(), view)
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
