"""Administration (admins): users, their roles and segments, the targets, and the audit log of every action."""

from __future__ import annotations

import polars as pl
import streamlit as st

from metrics.kpis.catalog import FILTER_DIMENSIONS, metric
from metrics.kpis.compute import all_metric_names
from metrics.kpis.formats import format_target
from metrics.kpis.settings import SettingsError, load_settings, set_target, settings_file
from pages._frame.display import table
from pages._frame.entry import enter
from pages._frame.language import language, page_title, t
from pages._frame.questions import read
from pages._frame.signin import current_actor, write
from pipelines.common.names import canonical, markdown_text, printable, printable_frame
from pipelines.signin import access

enter()  # the gate and the navigation first, however this page was reached
st.title(page_title("admin"))
actor = current_actor()
if not actor.may("users"):  # the navigation hides this page from other roles; a direct request ends here
    st.error(t("This page is for administrators."))
    st.stop()

mode = access.auth_mode()
st.caption(
    t(
        {
            "off": "Sign-in is off: everyone who can open this dashboard acts as an administrator. "
            "Set CSAT_RADAR_AUTH=password (or oidc) to require sign-in with the users below.",
            "password": "Sign-in with name and password is on.",
            "oidc": "Sign-in through the identity provider is on: a user here is the e-mail it vouches for.",
        }[mode]
    )
)


def segments_of(text: str) -> dict[str, list[str]] | None:
    return access.parse_segments(text.split(","), FILTER_DIMENSIONS) or None


def attempt(action: str, function, *args, **kwargs) -> bool:
    try:
        write(action, function, *args, **kwargs)
    except access.AccessError as exc:
        st.error(markdown_text(str(exc)))
        return False
    return True


def saved(message: str) -> None:
    """Run the page again so its tables show the change, with the message on top."""
    st.session_state["admin_saved"] = message
    st.rerun()


if "admin_saved" in st.session_state:
    st.success(st.session_state.pop("admin_saved"))


st.subheader(t("Users"))
users = read(access.users)
if users.is_empty():  # no filter touches users: "no data for these filters" would send one looking for one
    st.caption(t("No user added yet."))
else:
    table(printable_frame(users), "users", key="users", customer_data=False)

with st.form("add_user", clear_on_submit=True):
    st.markdown(f"**{t('Add a user')}**")
    name = st.text_input(t("Name (the e-mail address for identity-provider sign-in)"))
    role = st.selectbox(t("Role"), access.roles(), format_func=t, key="new_role")
    password = st.text_input(t("Password (none for identity-provider sign-in)"), type="password")
    segments = st.text_input(t("Limited to segments (e.g. team=Billing, team=Onboarding; empty = all)"))
    if st.form_submit_button(t("Add user"), type="primary"):
        try:
            limits = segments_of(segments)
        except access.AccessError as exc:
            st.error(str(exc))
        else:
            if attempt("add_user", access.add_user, name, role, password or None, limits, created_by=actor.name,
                       target=canonical(name)):  # fmt: skip
                saved(f"{t('Saved.')} {markdown_text(canonical(name))}: {role}")

if not users.is_empty():
    names = users["username"].to_list()
    with st.form("change_user"):
        st.markdown(f"**{t('Change a user')}**")
        who = st.selectbox(t("User"), names, format_func=printable, key="change_who")
        new_role = st.selectbox(t("Role"), access.roles(), format_func=t, key="change_role")
        new_segments = st.text_input(t("Limited to segments (e.g. team=Billing, team=Onboarding; empty = all)"),
                                     key="change_segments")  # fmt: skip
        new_password = st.text_input(t("New password (leave empty to keep)"), type="password", key="change_password")
        disabled = st.checkbox(t("Disabled"), key="change_disabled")
        if st.form_submit_button(t("Save changes")):
            try:
                limits = segments_of(new_segments)
            except access.AccessError as exc:
                st.error(str(exc))
            else:
                done = attempt("set_role", access.set_role, who, new_role, limits, target=who)
                if done and new_password:
                    done = attempt("set_password", access.set_password, who, new_password, target=who)
                if done and attempt("disable_user", access.disable_user, who, disabled, target=who):
                    saved(
                        f"{t('Saved.')} {markdown_text(who)}: {new_role}" + (f" ({t('Disabled')})" if disabled else "")
                    )

st.subheader(t("Targets"))
current = load_settings()
st.caption(f"{t('Read from')} `{current.source}`; {t('changes are written to')} `{settings_file()}`.")
targets = pl.DataFrame(
    [
        # The target as it reads everywhere (≥ 90.0%, ≤ 1.0 h), not the stored 0.9 or 60.
        {
            "label": metric(x.metric).display_label(language()),
            "target": format_target(x.bound, x.value, metric(x.metric).format),
        }
        for x in current.targets
        if x.dimension is None
    ]
)
table(targets, "targets", key="targets", customer_data=False, download=False)
with st.form("set_target"):
    names = [m for m in all_metric_names()]
    chosen = st.selectbox(
        t("KPI"), names, format_func=lambda n: f"{metric(n).display_label(language())} ({n})", key="target_metric"
    )
    bound = st.radio(t("Bound"), ["min", "max"], format_func=t, horizontal=True, key="target_bound")
    value = st.number_input(
        t("Target (a share as a fraction: 0.9 for 90%)"), value=0.9, format="%g", key="target_value"
    )
    if st.form_submit_button(t("Save target")):
        try:
            change = write("set_target", lambda _con, *args: set_target(*args), chosen, bound, value, target=chosen)
        except SettingsError as exc:
            st.error(str(exc))
        else:
            saved(f"{chosen}: {change['old']} → {change['new']} ({change['file']})")

st.subheader(t("Audit log"))
audit = read(access.audit_entries)
if audit.is_empty():
    st.caption(t("Nothing recorded yet: every sign-in, load and change is listed here once it happens."))
else:
    table(printable_frame(audit), "audit log", key="audit", customer_data=False)
