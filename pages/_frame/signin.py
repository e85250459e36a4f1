"""Who is using the app: the sign-in gate, the signed-in actor, signing out, and every write as that actor."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import streamlit as st

from metrics.kpis.scope import View
from pages._frame.language import t
from pages._frame.warehouse import db, warehouse_path
from pipelines.common.names import markdown_text
from pipelines.signin import access
from pipelines.warehouse.store import connect, connect_for_reading

# What a role needs to see a page in its navigation (and to use it: the page checks again).
PAGE_PERMISSIONS = {"admin": "users"}


def current_actor() -> access.Actor:
    """Who is using this session: the signed-in user, or the local administrator when sign-in is off."""
    session = st.session_state.get("session")
    if access.auth_mode() == "off":
        return access.local_actor()
    if session is None:  # app.py signs in before any page runs; a page reached otherwise sees nothing
        st.stop()
    return session.actor


def sign_in_gate() -> access.Actor:
    """The signed-in actor for this run; otherwise the sign-in form, and the run ends there."""
    try:
        mode = access.auth_mode()
    except access.AccessError as exc:
        st.error(str(exc))
        st.stop()
    if mode == "off":
        return access.local_actor()
    con = connect_for_reading(db())  # checking a session only reads; signing in writes the audit log
    try:
        previous = st.session_state.get("session")
        session = access.renewed(con, previous)
        if session is None and mode == "oidc" and getattr(st.user, "is_logged_in", False):
            try:
                session = _writing(access.identity_session, st.user.get("email"))
            except access.AccessDenied as exc:
                st.error(markdown_text(str(exc)))  # it names the e-mail address
                st.button(t("Sign out"), on_click=st.logout)
                st.stop()
        if session is None:
            st.session_state.pop("session", None)
            st.title("CSAT Radar")
            if previous is not None:
                st.info(t("Your session has ended; please sign in again."))
            if mode == "oidc":
                st.button(t("Sign in"), type="primary", on_click=st.login)
            else:
                _password_form(con)
            st.stop()
        st.session_state["session"] = session
        return session.actor
    finally:
        con.close()


def _writing(function, *args: Any) -> Any:
    """``function(con, *args)`` on a connection that may write, waiting (and saying so) for a load."""
    con = connect(db(), on_wait=st.info)
    try:
        return function(con, *args)
    finally:
        con.close()


def _password_form(con) -> None:
    if not access.has_users(con):
        st.warning(t("Sign-in is on but there is no user yet: create the first administrator with "
                     "`csat-radar users add NAME --role admin`."))  # fmt: skip
        return
    with st.form("sign_in"):
        name = st.text_input(t("Name"), key="sign_in_name")
        password = st.text_input(t("Password"), type="password", key="sign_in_password")
        submitted = st.form_submit_button(t("Sign in"), type="primary")
    if submitted:
        try:
            st.session_state["session"] = _writing(access.sign_in, name, password)
        except access.AccessDenied as exc:
            st.error(markdown_text(str(exc)))  # it may name what was typed
            return
        st.session_state.pop("sign_in_password", None)
        st.rerun()


def limited(argument: Any) -> Any:
    """``argument`` as the current actor may ask it: a view narrowed to their segments, anything else as is.

    Every read and write of the pages passes its arguments through here, so no view a page built
    (or a link forged) reaches past the actor's segments.
    """
    return replace(argument, limit=current_actor().segments) if isinstance(argument, View) else argument


def sign_out() -> None:
    actor = current_actor()
    _writing(access.audit, actor, "sign_out", "done", actor.name)
    st.session_state.pop("session", None)
    if access.auth_mode() == "oidc" and getattr(st.user, "is_logged_in", False):
        st.logout()


def write(action: str, function, *args: Any, target: str | None = None, **kwargs: Any) -> Any:
    """Run ``function``, an action of pipelines/signin/access.toml, as the current actor; drop every cached answer.

    The role is checked here on the server and the outcome audited, whatever the page showed;
    a refusal is shown as one line and ends the run.
    """
    actor = current_actor()
    args = tuple(limited(a) for a in args)
    kwargs = {k: limited(v) for k, v in kwargs.items()}
    con = connect(str(warehouse_path()), on_wait=st.info)
    try:
        return access.perform(con, actor, action, function, *args, target=target, **kwargs)
    except access.AccessDenied as exc:
        st.error(markdown_text(str(exc)))  # it names the actor
        st.stop()
    finally:
        con.close()
        st.cache_data.clear()
