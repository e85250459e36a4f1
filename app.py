"""CSAT Radar's Streamlit entry point: routes to the pages and frames them with the sidebar's filters.

The filters live in the session and are mirrored into the URL's query string, so a filtered
view is a link a manager can send; every page reads them through ``pages._frame.questions.current_view``.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import streamlit as st

from metrics.kpis.catalog import FILTER_DIMENSIONS
from metrics.kpis.formats import as_of_line, format_moment
from metrics.views import dashboard
from pages._frame.entry import framed
from pages._frame.language import PAGE_TITLES, language, page_title, t, text
from pages._frame.questions import ask, current_view, load_summary
from pages._frame.signin import PAGE_PERMISSIONS, sign_in_gate, sign_out
from pages._frame.warehouse import db, warehouse_path
from pipelines.common.names import markdown_text
from pipelines.signin import access
from pipelines.warehouse.store import load_in_progress

st.set_page_config(page_title="CSAT Radar", page_icon=":material/radar:", layout="wide")

# Absolute: a page entered directly runs this file as its frame, from the pages folder.
PAGES = Path(__file__).resolve().parent / "pages"
# Material icons ship with Streamlit; emoji need a colour-emoji font the server's viewers may lack.
ICONS = {
    "overview": ":material/dashboard:",
    "trends": ":material/show_chart:",
    "crisis_radar": ":material/radar:",
    "service_levels": ":material/timer:",
    "complaints": ":material/report:",
    "upload": ":material/upload_file:",
    "quarterly_review": ":material/summarize:",
    "admin": ":material/admin_panel_settings:",
}


# The filters a page honours (the rest: dates and segments); a filter that changes nothing is not shown.
ALL_FILTERS = ("dates", "segments")
PAGE_FILTERS = {"upload": (), "admin": (), "quarterly_review": ("segments",)}


def _adopt_query_string() -> None:
    """On a session's first run, take the filters from the URL (a shared link)."""
    if st.session_state.get("_filters_adopted"):
        return
    params = st.query_params
    st.session_state["language"] = params.get("lang", "en") if params.get("lang") in ("en", "zh") else "en"
    for dimension in FILTER_DIMENSIONS:
        values = params.get_all(dimension)
        if values:
            st.session_state[f"filter_{dimension}"] = values
    try:
        dates = tuple(date.fromisoformat(params[k]) for k in ("from", "to") if k in params)
    except ValueError:
        dates = ()
    if dates:
        st.session_state["filter_dates"] = dates
    st.session_state["_filters_adopted"] = True


def _mirror_query_string() -> None:
    wanted: dict[str, str | list[str]] = {}
    if language() != "en":
        wanted["lang"] = language()
    dates = st.session_state.get("filter_dates") or ()
    if len(dates) == 2:
        wanted["from"], wanted["to"] = dates[0].isoformat(), dates[1].isoformat()
    for dimension in FILTER_DIMENSIONS:
        if st.session_state.get(f"filter_{dimension}"):
            wanted[dimension] = list(st.session_state[f"filter_{dimension}"])
    if "crisis" in st.query_params:
        wanted["crisis"] = st.query_params["crisis"]
    if st.query_params.to_dict() != {k: (v[-1] if isinstance(v, list) else v) for k, v in wanted.items()}:
        st.query_params.from_dict(wanted)


_adopt_query_string()
actor = sign_in_gate()
pages = {
    name: st.Page(PAGES / f"{name}.py", title=page_title(name), icon=ICONS[name], default=name == "overview")
    for name in PAGE_TITLES
    if actor.may(PAGE_PERMISSIONS.get(name, "read"))
}
navigation = st.navigation(list(pages.values()))


def _date_filter(summary) -> None:
    """The dates: a session opens on the data's recent span; a link's or the user's own dates win while valid."""
    first, last = summary.first_activity.date(), summary.last_day
    chosen = st.session_state.get("filter_dates") or ()
    if len(chosen) != 2 or not (first <= chosen[0] <= chosen[1] <= last):
        st.session_state["filter_dates"] = (max(first, chosen[0]), last) if chosen else summary.default_dates
    st.date_input(text("dates"), min_value=first, max_value=last, key="filter_dates")


def _segment_filters() -> None:
    options = ask(dashboard.filter_options, db(), current_view())  # a limited user is offered only their segments
    for dimension in FILTER_DIMENSIONS:
        if st.session_state.get(f"filter_{dimension}"):  # a link may name values not (or no longer) offered
            offered = set(options.get(dimension, []))
            st.session_state[f"filter_{dimension}"] = [
                v for v in st.session_state[f"filter_{dimension}"] if v in offered
            ]
        if options.get(dimension):
            label = t(dimension.replace("_", " ").capitalize())
            st.multiselect(label, options[dimension], placeholder=t("Choose options"), key=f"filter_{dimension}")


def _warehouse_lines(summary) -> None:
    """What the warehouse holds; its file path only for administrators (it tells others about the server)."""
    if actor.may("users"):
        st.caption(f"{t('Warehouse:')} `{warehouse_path()}`")
    st.caption(as_of_line(summary.as_of, language()))  # every page's "now": the data's own moment, not the wall clock
    if (began := load_in_progress(db())) is not None:
        st.warning(t("A load from the command line is running (since {time} UTC): the pages show the warehouse as "
                     "it was when it began.").format(time=f"{began:%H:%M}"))  # fmt: skip
    if summary.first_activity and summary.last_activity:
        st.caption(t("Data: {first} to {last} (UTC)").format(first=f"{summary.first_activity:%Y-%m-%d}",
                                                            last=f"{summary.last_activity:%Y-%m-%d}"))  # fmt: skip
    loaded = format_moment(summary.last_load) if summary.last_load else t("none yet")
    st.caption(f"{t('Last load:')} {loaded}")


with st.sidebar:
    st.markdown("### CSAT Radar")
    if access.auth_mode() != "off":
        limited = "; ".join(f"{d}: {', '.join(map(markdown_text, v))}" for d, v in actor.segments)
        st.caption(t("Signed in as **{name}** ({role})").format(name=markdown_text(actor.name), role=t(actor.role))
                   + (t(", limited to {segments}").format(segments=limited) if limited else ""))  # fmt: skip
        st.button(t("Sign out"), on_click=sign_out, key="sign_out")
    st.radio(text("language"), ["en", "zh"], format_func={"en": "English", "zh": "中文"}.get, key="language",
             horizontal=True)  # fmt: skip
    summary = load_summary(db())
    _warehouse_lines(summary)
    # Each page names the filters it honours: none on Upload and Administration, no dates on the review.
    shown = PAGE_FILTERS.get(next((n for n, p in pages.items() if p.url_path == navigation.url_path), ""), ALL_FILTERS)
    for key in [k for k in st.session_state if str(k).startswith("filter_")]:
        # A widget not drawn in a run loses its value: kept as the session's own, the filters survive a visit
        # to a page without them (and stay in the URL).
        st.session_state[key] = st.session_state[key]
    if not summary.is_empty and shown:
        st.markdown(f"**{text('filters')}**")
        if "dates" in shown:
            _date_filter(summary)
        if "segments" in shown:
            _segment_filters()
_mirror_query_string()

with framed():  # the page's enter() sees the gate has run
    navigation.run()
