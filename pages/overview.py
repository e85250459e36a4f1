"""Overview (managers): each headline KPI against target, and the open crises by severity."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from metrics.kpis.formats import format_period
from metrics.views import dashboard
from metrics.views.what_changed import SEVERITY_WORDS, TYPE_WORDS
from pages._frame.display import SEVERITY_COLOURS, STATUS_COLOURS, stop_if_empty
from pages._frame.entry import enter
from pages._frame.language import language, page_title, t, text
from pages._frame.questions import ask, current_view
from pages._frame.warehouse import db
from pipelines.common.names import markdown_text

enter()  # the gate and the navigation first, however this page was reached


def tile_card(tile: dashboard.Tile) -> None:
    """One headline KPI: its label in full (wrapped, not cut), value, change, status, target and interval."""
    target = f"{t('Target')} {tile.target_text}" if tile.target_text else t("no target set")
    interval = tile.interval_text.replace("95% interval", t("95% interval"))
    # The label above the number wraps; st.metric's own label is cut to one line on a narrow card.
    st.markdown(f"**{markdown_text(tile.label)}**", help=f"{interval}. {target}." if interval else f"{target}.")
    st.metric(
        tile.label,
        tile.value_text,
        delta=tile.change_text or None,
        delta_color=("normal" if tile.higher_is_better else "inverse") if tile.change_significant else "off",
        label_visibility="collapsed",
    )
    st.markdown(f":{STATUS_COLOURS[tile.status]}-badge[{t(tile.status_text)}]")
    st.caption(" · ".join(part for part in (target, interval) if part))
    if tile.reason:
        st.caption(markdown_text(tile.reason))
    if tile.sparkline.height > 1:
        spark = tile.sparkline.sort("period_start")
        line = go.Scatter(x=spark["period_start"], y=spark["value"], mode="lines", line={"width": 2})
        figure = go.Figure(line)
        figure.update_layout(height=70, margin={"l": 0, "r": 0, "t": 0, "b": 0}, showlegend=False)
        figure.update_xaxes(visible=False)
        figure.update_yaxes(visible=False)
        st.plotly_chart(figure, width="stretch", config={"displayModeBar": False}, key=f"spark_{tile.metric}")


def severity_word(severity: str) -> str:
    return SEVERITY_WORDS.get(language(), SEVERITY_WORDS["en"])[severity]


st.title(page_title("overview"))
stop_if_empty()
view = current_view()
CRISES_PER_PAGE = 10  # a screenful; "Show all" lists the rest

# What changed, in a paragraph written from the numbers: before the tiles, it is what a manager reads first.
with st.container(border=True):
    st.markdown(markdown_text(ask(dashboard.what_changed, db(), view).text))

# Only whole weeks are shown: with dates cut mid-week there may be none, and a partial week's
# numbers (and their arrows) would read as a drop.
if ask(dashboard.latest_complete_period, db(), view) is None:
    st.info(text("no_complete_week"))
else:
    tiles = ask(dashboard.headline_tiles, db(), view)
    latest = max((t.period_start for t in tiles if t.period_start), default=None)
    st.caption(
        t(
            "Latest complete week, starting {week}. Arrows show the change on the week before, "
            "coloured only when it is more than noise (5% level)."
        ).format(week=format_period(latest))
    )
    if all(t.value is None for t in tiles):
        st.info(text("no_data"))
    columns = st.columns(len(tiles))
    for column, tile in zip(columns, tiles, strict=True):
        # "stretch": every card as tall as the tallest, whatever each one has to say.
        with column.container(border=True, height="stretch"):
            tile_card(tile)
st.subheader(t("Open crises"))
# Counted from the very rows listed below (most severe first, then latest flagged), narrowed by the sidebar.
by_severity = ask(dashboard.open_crises_by_severity, db(), view)
open_crises = ask(dashboard.open_crisis_list, db(), view)
counts = st.columns(4)
for column, (severity, count) in zip(counts, by_severity.items(), strict=True):
    column.markdown(
        f":{SEVERITY_COLOURS[severity]}-badge[{severity_word(severity)}] " + t("**{count}** open").format(count=count)
    )
if open_crises.is_empty():
    st.success(t("No open crisis. The radar checks each KPI by segment; see the Crisis radar page."))
else:
    pages = -(-open_crises.height // CRISES_PER_PAGE)
    show_all = pages > 1 and st.toggle(t("Show all open crises"), key="open_crises_all")
    number = 1
    if pages > 1 and not show_all:
        number = st.radio(t("Page"), list(range(1, pages + 1)), horizontal=True, key="open_crises_page")
    first = 0 if show_all else (number - 1) * CRISES_PER_PAGE
    shown = open_crises.slice(first, open_crises.height if show_all else CRISES_PER_PAGE)
    st.caption(
        t("Open crises {first}–{last} of {total}, most severe first, then the latest flagged.").format(
            first=first + 1, last=first + shown.height, total=open_crises.height
        )
    )
    for row in shown.iter_rows(named=True):
        left, right = st.columns([5, 1])
        escalated = f" :red-badge[{t('escalated')}]" if row["escalated"] else ""
        line = t("**{type}** in {where} ({metric}), since {start}, last flagged {last}, {status}").format(
            type=TYPE_WORDS.get(view.language, {}).get(row["type"], row["type"].replace("_", " ")),
            where=markdown_text(row["where"]),
            metric=view.label(row["metric"]),
            start=format_period(row["start"]),
            last=format_period(row["last flagged"]),
            status=t(row["status"]),
        )
        left.markdown(f":{SEVERITY_COLOURS[row['severity']]}-badge[{severity_word(row['severity'])}]{escalated} {line}")
        if right.button(t("Open"), key=f"open_crisis_{row['id']}"):
            st.switch_page(
                "pages/crisis_radar.py", query_params={**st.query_params.to_dict(), "crisis": str(row["id"])}
            )

counts = ask(dashboard.record_counts, db(), view)
if counts is not None:  # None for a limited user: these are the whole organisation's
    st.caption(
        t(
            "{tickets} tickets, {answers} survey answers and {complaints} complaints in the warehouse; "
            "{rejected} rows rejected."
        ).format(
            tickets=f"{counts['tickets']:,}",
            answers=f"{counts['survey_responses']:,}",
            complaints=f"{counts['complaints']:,}",
            rejected=f"{counts['rejected_rows']:,}",
        )
    )
