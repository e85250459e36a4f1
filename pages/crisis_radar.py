"""Crisis radar: the crisis log, and each crisis with its chart, causes, reasons and handling steps."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import polars as pl
import streamlit as st

from metrics.crises import handling
from metrics.crises.links import describe_bad_id, parse_id
from metrics.crises.log_rows import OPEN_STATUSES, RECOVERED, CrisisLogError
from metrics.crises.model import CRISIS_TYPES, FISHBONE_CATEGORIES, SEVERITIES, STATUSES
from metrics.kpis.formats import format_period
from metrics.kpis.messages import reason_text
from metrics.kpis.settings import load_settings
from metrics.notify.config import NotifyConfigError, find_config
from metrics.notify.outbox import NotifyRun
from metrics.views import dashboard, figures
from metrics.views.crisis_lists import most_severe_open
from metrics.views.dashboard import record_source, records_behind, refresh_crisis_log, visible_crisis
from pages._frame.crisis_story import show_story
from pages._frame.display import SEVERITY_COLOURS, chart, stop_if_empty, table
from pages._frame.entry import enter
from pages._frame.language import language, page_title, t
from pages._frame.questions import ask, current_view, read
from pages._frame.signin import current_actor, write
from pages._frame.warehouse import db
from pipelines.common.names import markdown_text
from pipelines.signin import access

enter()  # the gate and the navigation first, however this page was reached
st.title(page_title("crisis_radar"))
stop_if_empty()
view = current_view()
actor = current_actor()

scan_left, scan_right = st.columns([3, 1])
grain = scan_left.radio(t("Scan grain"), ["week", "day"], format_func=t, horizontal=True, key="scan_grain")
if actor.may("crises") and scan_right.button(
    t("Scan now"), type="primary", help=t("Run the detectors and record what they find in the log")
):
    settings = load_settings()
    try:  # notifications.toml beside the targets: the scan tells its destinations, as `crises --notify` does
        notifications = find_config(targets_source=settings.source)
    except NotifyConfigError as exc:
        st.warning(f"{t('Notifications not sent:')} {exc}")
        notifications = None
    run = NotifyRun(notifications) if notifications else None
    with st.spinner(t("Scanning every KPI and segment…")):
        found = write("scan", refresh_crisis_log, settings, grain, view=view, notify=run)
    st.toast(t("Scan found {n} crises; the log is up to date.").format(n=found))
    if run is not None:
        sent = sum(d.ok for d in run.deliveries)
        if sent:
            st.toast(f"{t('Notifications sent:')} {sent}", icon=":material/notifications:")
        for failed in (d for d in run.deliveries if not d.ok):
            st.warning(f"{t('Notification failed, retried on the next scan:')} {failed.destination}: {failed.error}")

filter_status, filter_type, filter_severity = st.columns(3)
statuses = filter_status.multiselect(
    t("Status"),
    STATUSES,
    default=list(OPEN_STATUSES),
    format_func=t,
    placeholder=t("Choose options"),
    key="crisis_status",
)
crisis_type = filter_type.selectbox(t("Type"), ["(any)", *CRISIS_TYPES], format_func=t, key="crisis_type")
severity = filter_severity.selectbox(t("Severity"), ["(any)", *SEVERITIES], format_func=t, key="crisis_severity")
log = ask(
    dashboard.crisis_table,
    db(),
    view,
    statuses,
    None if crisis_type == "(any)" else crisis_type,
    None if severity == "(any)" else severity,
)
if log.is_empty():
    st.info(t("No crisis in the log matches these filters. Press 'Scan now' to run the radar."))
else:
    table(log, "crises", key="crisis_log")
if RECOVERED not in statuses:
    awaiting = ask(dashboard.crisis_table, db(), view, [RECOVERED], None, None).height
    if awaiting:
        st.caption(
            t("{n} crises are back inside their limits and await a person's confirmation: choose status "
              "'recovered' to see them.").format(n=awaiting)
        )  # fmt: skip

chosen_text = st.query_params.get("crisis")
chosen = parse_id(chosen_text)
if chosen_text and chosen is None:
    st.warning(describe_bad_id("crisis", chosen_text))
ids = log["id"].to_list()
if chosen is not None and chosen not in ids:
    ids = [chosen, *ids]
if not ids:
    st.stop()
# Without a link naming one, the page opens on the most severe open crisis (latest flagged first).
first = chosen if chosen is not None else most_severe_open(log)
default = ids.index(first) if first is not None else 0
labels = {
    row["id"]: f"#{row['id']} {t(row['severity'])}{' · ' + t('escalated') if row['escalated'] else ''} · {row['where']}"
    for row in log.iter_rows(named=True)
}
crisis_id = st.selectbox(
    t("Crisis"), ids, index=default, format_func=lambda i: labels.get(i, f"#{i}"), key="crisis_pick"
)
if str(crisis_id) != chosen_text:
    st.query_params["crisis"] = str(crisis_id)
try:
    crisis = read(visible_crisis, view, int(crisis_id))
except CrisisLogError as exc:
    st.error(str(exc))
    st.stop()

place = markdown_text(f"{t(crisis['dimension'])} {crisis['segment']}")  # a segment is the data's own text
st.header(t("#{id}: {type} in {place}").format(id=crisis["crisis_id"], type=t(crisis["type"]), place=place))
st.markdown(
    f":{SEVERITY_COLOURS[crisis['severity']]}-badge[{t(crisis['severity'])}] "
    + (f":red-badge[{t('escalated')}] " if crisis["escalated_at"] else "")
    + f"{t('Status')} **{t(crisis['status'])}**"
    + (f" · {t('Owner')} {markdown_text(crisis['owner'])}" if crisis["owner"] else "")  # typed in the form below
    + " · "
    + t("flagged {first} to {last} at {grain} grain").format(
        first=format_period(crisis["start_period"]),
        last=format_period(crisis["last_flagged"]),
        grain=t(crisis["grain"]),
    )
    + (f" · {t('recovered: back inside limits, awaiting confirmation')}" if crisis["status"] == RECOVERED else "")
)
why_type, why_severity = st.columns(2)
why_type.markdown(
    f"**{t('Why this type.')}** {markdown_text(reason_text(crisis['type_reason'], language()))}"
)  # they quote segment names
why_severity.markdown(
    f"**{t('Why this severity.')}** {markdown_text(reason_text(crisis['severity_reason'], language()))}"
)

segment_view = replace(
    view,
    date_from=crisis["start_period"] - timedelta(days=182 if crisis["grain"] == "week" else 60),
    date_to=None,
    segments=() if crisis["dimension"] == "overall" else ((crisis["dimension"], (crisis["segment"],)),),
)
series, method = ask(
    dashboard.crisis_chart,
    db(),
    segment_view,
    crisis["metric"],
    crisis["dimension"],
    crisis["segment"],
    crisis["grain"],
)
if series.is_empty():
    st.caption(t("No data left for this crisis's metric and segment."))
else:
    figure = figures.crisis(series, view, crisis["metric"], place, crisis["grain"])
    chart(figure, key="crisis_chart")
    st.caption(method)

with st.expander(t("Records behind this crisis")):
    overall = crisis["dimension"] == "overall"
    last = (crisis["end_period"] or crisis["last_flagged"]) + timedelta(days=6 if crisis["grain"] == "week" else 0)
    behind = read(records_behind, load_settings(), view, crisis["metric"], crisis["grain"],
                  None if overall else crisis["dimension"], None if overall else crisis["segment"],
                  (crisis["start_period"], last))  # fmt: skip
    st.caption(
        t("{n} most recent {kind} of the flagged periods (at most 500).").format(
            n=f"{behind.height:,}", kind=t(record_source(crisis["metric"]))
        )
    )
    table(behind, f"crisis {crisis['crisis_id']} records", key="crisis_records")

show_story(view, crisis)  # where it sits, its cause in words, the numbers behind, what customers say

st.subheader(t("Recommended response"))
for number, step in enumerate(handling.response_steps(crisis["type"]), start=1):
    st.markdown(f"{number}. {t(step)}")

st.subheader(t("Handling"))
if not actor.may("crises"):
    st.caption(t("Acknowledging and advancing a crisis is for managers."))
    st.stop()
# Signed in, the log records the user; on a machine without sign-in, the name typed here.
actor_name = (
    st.text_input(t("Your name (recorded with each action)"), key="actor", value=st.session_state.get("actor", ""))
    if access.auth_mode() == "off"
    else actor.name
)


def act(name: str, action, *args, **kwargs) -> None:
    if not actor_name.strip():
        st.error(t("Enter your name first: every action in the log says who took it."))
        return
    try:
        crisis_number = int(crisis["crisis_id"])
        write(name, action, crisis_number, *args, actor=actor_name.strip(), target=f"crisis {crisis_number}", **kwargs)
    except CrisisLogError as exc:
        st.error(str(exc))
        return
    st.rerun()


status = crisis["status"]
if status == "detected":
    owner = st.text_input(t("Owner"), key="owner")
    if st.button(t("Acknowledge"), type="primary"):
        act("acknowledge", handling.acknowledge, owner=owner)
elif status in ("acknowledged", "response_plan_active", "resolving"):
    following = {"acknowledged": "response_plan_active", "response_plan_active": "resolving", "resolving": "resolved"}
    note = st.text_input(t("Note"), key="advance_note")
    step_button, recover_button = st.columns(2)
    if step_button.button(t("Advance to {status}").format(status=t(following[status])), type="primary"):
        act("advance", handling.advance, following[status], note=note)
    if recover_button.button(t("Confirm recovery (resolved)")):
        act("confirm_recovery", handling.confirm_recovery, note=note)
elif status == RECOVERED:
    st.info(
        t("Back inside its limits for {n} {grain} periods. Confirm the recovery once customers are satisfied "
          "again; a new flag before that puts it back on the open list.").format(
            n=crisis["recovery_periods"], grain=t(crisis["grain"])
        )
    )  # fmt: skip
    note = st.text_input(t("Note"), key="recovered_note")
    if st.button(t("Confirm recovery (resolved)"), type="primary"):
        act("confirm_recovery", handling.confirm_recovery, note=note)
elif status == "resolved":
    with st.form("review"):
        category = st.selectbox(t("Root cause (fishbone category)"), FISHBONE_CATEGORIES, format_func=t)
        whys = [st.text_input(t("Why {n}?").format(n=n), key=f"why_{n}") for n in range(1, 6)]
        actions = st.text_area(t("Actions taken"))
        review = st.text_area(t("Review"))
        if st.form_submit_button(t("Save review"), type="primary"):
            act("write_review", handling.write_review, fishbone_category=category, five_whys=whys,
                actions_taken=actions, review_text=review)  # fmt: skip
else:
    # typed by a person in the review form: shown as typed, never as a link or an image
    review_text = markdown_text(crisis["review_text"] or "")
    st.markdown(f"**{t('Reviewed.')}** {t('Root cause')}: {t(crisis['fishbone_category'])}. {review_text}")
    for number, why in enumerate(crisis["five_whys"] or [], start=1):
        st.markdown(f"- {t('Why {n}?').format(n=number)} {markdown_text(why)}")
    if crisis["actions_taken"]:
        st.markdown(f"{t('Actions taken')}: {markdown_text(crisis['actions_taken'])}")

events = pl.DataFrame(crisis["events"] or [])
if not events.is_empty():
    with st.expander(t("History of this crisis")):
        table(events.drop("crisis_id", strict=False), "history", key="crisis_history", customer_data=False,
              download=False)  # fmt: skip
with st.expander(t("Evidence")):
    st.code(json.dumps(crisis["evidence"], indent=2, ensure_ascii=False, default=str), language="json")
