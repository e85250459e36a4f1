"""Streamlit helpers shared by the pages: the warehouse, the global filters, cached questions and charts."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from metrics.kpis.settings import load_settings
from metrics.views import dashboard
from metrics.views.summary import WarehouseSummary, warehouse_summary
from pipelines.common.names import markdown_text
from pipelines.signin import access
from pipelines.stage.personal import mask
from pipelines.warehouse.store import connect, connect_for_reading, resolve_db_path

CACHE_TTL_SECONDS = 60
STATUS_COLOURS = {
    "met": "green",
    "not_credibly_missed": "orange",
    "missed": "red",
    "small_sample": "gray",
    "no_target": "blue",
    "no_data": "gray",
}
SEVERITY_COLOURS = {"critical": "red", "major": "orange", "minor": "blue", "observe": "gray"}
# Words of the interface in both languages; metric labels come from the catalog.
TEXT = {
    "en": {
        "filters": "Filters",
        "dates": "Dates",
        "language": "Language",
        "no_data": "No data for these filters. Widen the date range or clear a filter.",
        "empty": "The warehouse is empty. Upload exports on the Upload page, or build the demo with `csat-radar demo`.",
    },
    "zh": {
        "filters": "筛选",
        "dates": "日期",
        "language": "语言",
        "no_data": "当前筛选条件下没有数据。请放宽日期范围或清除筛选。",
        "empty": "数据仓库为空。请在“上传”页面上传导出文件，或运行 `csat-radar demo` 生成演示数据。",
    },
}
# The interface's own words in Chinese, keyed by the English (a test checks every t("...") has one).
ZH = {
    "Sheet": "工作表",
    "Scale of the scores": "评分量表",
    "(from the file)": "（按文件）",
    "Targets": "目标",
    "Read from": "读取自",
    "changes are written to": "修改写入",
    "Bound": "界限",
    "Target (a share as a fraction: 0.9 for 90%)": "目标值（比例用小数：0.9 表示 90%）",
    "Save target": "保存目标",
    "Acknowledging and advancing a crisis is for managers.": "确认受理和推进危机处理由经理负责。",
    "Add a user": "添加用户",
    "Add user": "添加",
    "Audit log": "审计日志",
    "Change a user": "修改用户",
    "Disabled": "已停用",
    "Limited to segments (e.g. team=Billing, team=Onboarding; empty = all)": (
        "限定细分（如 team=Billing, team=Onboarding；留空表示全部）"
    ),
    "Name (the e-mail address for identity-provider sign-in)": "用户名（使用身份提供商登录时为电子邮件地址）",
    "New password (leave empty to keep)": "新密码（留空则不变）",
    "Password (none for identity-provider sign-in)": "密码（使用身份提供商登录时留空）",
    "Role": "角色",
    "Save changes": "保存修改",
    "Saved.": "已保存。",
    "This page is for administrators.": "此页面仅供管理员使用。",
    "User": "用户",
    "Users": "用户",
    "Loading and undoing write rows of every segment: they are for users not limited to segments.": (
        "导入和撤销会写入所有细分的数据：仅限未限定细分的用户使用。"
    ),
    "Your role reads the batch history; loading and undoing are for analysts.": (
        "您的角色可查看导入批次记录；导入和撤销由分析师负责。"
    ),
    "Acknowledge": "确认受理",
    "Actions taken": "已采取的措施",
    "Batch history": "导入批次记录",
    "Break down by": "细分维度",
    "CSV, TSV, Excel, Parquet, JSON or JSON Lines; UTF-8, UTF-16 or GBK. Nothing is written until you load.": (
        "支持 CSV、TSV、Excel、Parquet、JSON 和 JSON Lines；UTF-8、UTF-16 或 GBK 编码。点击导入前不会写入任何数据。"
    ),
    "Causes": "投诉原因",
    "Column overrides (canonical=Source header, comma-separated)": "列映射覆盖（标准列=源列名，逗号分隔）",
    "Confirm recovery (resolved)": "确认已恢复（已解决）",
    "Crises and their handling": "危机及处理情况",
    "Crisis": "危机",
    "Download report (HTML)": "下载报告（HTML）",
    "Download workbook (Excel)": "下载工作簿（Excel）",
    "Evidence": "证据",
    "Exports": "导出文件",
    "Forecast and seasonal decomposition (STL)": "预测与季节分解（STL）",
    "Grain": "时间粒度",
    "Handling": "处理流程",
    "History of this crisis": "处理记录",
    "KPI": "指标",
    "KPIs against target": "指标与目标对比",
    "Kept as extra attributes: ": "作为附加属性保留：",
    "Median age of open tickets": "未结工单的中位时长",
    "No complete quarter of data yet.": "尚无完整季度的数据。",
    "No crisis in the log matches these filters. Press 'Scan now' to run the radar.": (
        "危机日志中没有符合筛选条件的危机。点击“立即扫描”运行雷达。"
    ),
    "No data left for this crisis's metric and segment.": "该危机的指标和细分已无数据。",
    "No file has been loaded yet.": "尚未导入任何文件。",
    "No open crisis. The radar checks each KPI by segment; see the Crisis radar page.": (
        "当前没有未关闭的危机。雷达会按细分检查每项指标，详见“危机雷达”页面。"
    ),
    "No segment stands out: the change is spread evenly.": "没有突出的细分：变化分布均匀。",
    "Note": "备注",
    "Open": "打开",
    "Open crises": "未关闭的危机",
    "Open tickets (backlog)": "未结工单（积压）",
    "Owner": "负责人",
    "Period": "时段",
    "Profile": "导入模板",
    "Quarter": "季度",
    "Recommended response": "建议的应对步骤",
    "Records behind a period": "该时段的明细记录",
    "Records behind this crisis": "该危机的明细记录",
    "baseline": "基线",
    "control limit": "控制限",
    "flagged": "已预警",
    "Review": "复盘总结",
    "Root cause (fishbone category)": "根本原因（鱼骨图类别）",
    "Save review": "保存复盘",
    "Scan grain": "扫描粒度",
    "Scan now": "立即扫描",
    "Severity": "严重程度",
    "Slowest process stages by case type": "按工单类型的最慢环节",
    "Split by": "拆分维度",
    "Status": "状态",
    "The 500 most recent tickets within the filters.": "筛选范围内最近的 500 张工单。",
    "These files hold": "文件内容",
    "Tickets behind these figures": "这些数字背后的工单",
    "Time zone of the timestamps (when the file does not say)": "时间戳的时区（文件未注明时）",
    "Too few complete weeks for a forecast.": "完整周数太少，无法预测。",
    "Top complaint causes": "主要投诉原因",
    "Type": "类型",
    "Undo a batch": "撤销导入批次",
    "Undo batch": "撤销批次",
    "What drives it": "主要驱动因素",
    "Where they come from": "投诉来源",
    "Would be rejected: ": "将被拒绝：",
    "Your name (recorded with each action)": "您的姓名（每项操作都会记录）",
    # KPI statuses (metrics.kpis.compute.STATUSES).
    "target met": "达标",
    "below target, but within the uncertainty": "低于目标，但在不确定范围内",
    "target credibly missed": "确实未达标",
    "too few observations to judge": "样本太少，无法判断",
    "no target set": "未设目标",
    "no data": "无数据",
    # Filter dimensions in the sidebar.
    "Channel": "渠道",
    "Team": "团队",
    "Product": "产品",
    "Region": "地区",
    "Customer tier": "客户等级",
}
PAGE_TITLES = {
    "overview": ("Overview", "总览"),
    "trends": ("Trends", "趋势"),
    "crisis_radar": ("Crisis radar", "危机雷达"),
    "service_levels": ("Service levels", "服务水平"),
    "complaints": ("Complaints", "投诉"),
    "upload": ("Upload", "上传"),
    "quarterly_review": ("Quarterly review", "季度回顾"),
    "admin": ("Administration", "管理"),
}
# What a role needs to see a page in its navigation (and to use it: the page checks again).
PAGE_PERMISSIONS = {"admin": "users"}


def warehouse_path() -> Path:
    """The warehouse file this app serves (CSAT_RADAR_DB, set by ``csat-radar serve``)."""
    return resolve_db_path()


def language() -> str:
    return st.session_state.get("language", "en")


def text(key: str) -> str:
    return TEXT[language()][key]


def t(english: str) -> str:
    """The interface's words in the chosen language (English is the key)."""
    return ZH.get(english, english) if language() == "zh" else english


def page_title(page: str) -> str:
    english, chinese = PAGE_TITLES[page]
    return chinese if language() == "zh" else english


def current_view() -> dashboard.View:
    """The global filters the sidebar holds (app.py keeps them in the session and the URL).

    The view carries the actor's segments as its limit and narrows itself to them, so a user
    limited to some segments gets them whatever the sidebar or the URL asks for.
    """
    segments = tuple(
        (dimension, tuple(sorted(st.session_state.get(f"filter_{dimension}") or ())))
        for dimension in dashboard.FILTER_DIMENSIONS
        if st.session_state.get(f"filter_{dimension}")
    )
    dates = st.session_state.get("filter_dates") or ()
    date_from = dates[0] if len(dates) > 0 else None
    date_to = dates[1] if len(dates) > 1 else None
    return dashboard.View(date_from, date_to, segments, language(), limit=current_actor().segments)


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
                st.button("Sign out", on_click=st.logout)
                st.stop()
        if session is None:
            st.session_state.pop("session", None)
            st.title("CSAT Radar")
            if previous is not None:
                st.info("Your session has ended; please sign in again.")
            if mode == "oidc":
                st.button("Sign in", type="primary", on_click=st.login)
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
        st.warning("Sign-in is on but there is no user yet: create the first administrator with "
                   "`csat-radar users add NAME --role admin`.")  # fmt: skip
        return
    with st.form("sign_in"):
        name = st.text_input("Name", key="sign_in_name")
        password = st.text_input("Password", type="password", key="sign_in_password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        try:
            st.session_state["session"] = _writing(access.sign_in, name, password)
        except access.AccessDenied as exc:
            st.error(markdown_text(str(exc)))  # it may name what was typed
            return
        st.session_state.pop("sign_in_password", None)
        st.rerun()


def sign_out() -> None:
    actor = current_actor()
    _writing(access.audit, actor, "sign_out", "done", actor.name)
    st.session_state.pop("session", None)
    if access.auth_mode() == "oidc" and getattr(st.user, "is_logged_in", False):
        st.logout()


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


def ask(question: str, db_path: str, view: dashboard.View | None, *args: Any) -> Any:
    """Answer one question of ``metrics.views.dashboard`` (by function name), cached for a minute.

    Every view is limited here to the current actor's segments, whichever view the page built.
    """
    if view is not None:
        view = replace(view, limit=current_actor().segments)
    elif question not in dashboard.VIEWLESS_QUESTIONS:
        raise ValueError(f"{question} needs a view: ask it with current_view()")
    return _ask(question, db_path, view, *args)


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner="Computing…")
def _ask(question: str, db_path: str, view: dashboard.View | None, *args: Any) -> Any:
    con = connect_for_reading(db_path)
    try:
        function = getattr(dashboard, question)
        if view is None:
            return function(con, *args)
        return function(con, load_settings(), view, *args)
    finally:
        con.close()


def write(action: str, function, *args: Any, target: str | None = None, **kwargs: Any) -> Any:
    """Run ``function``, an action of pipelines/signin/access.toml, as the current actor; drop every cached answer.

    The role is checked here on the server and the outcome audited, whatever the page showed;
    a refusal is shown as one line and ends the run.
    """
    actor = current_actor()
    args = tuple(replace(a, limit=actor.segments) if isinstance(a, dashboard.View) else a for a in args)
    kwargs = {k: replace(v, limit=actor.segments) if isinstance(v, dashboard.View) else v for k, v in kwargs.items()}
    con = connect(str(warehouse_path()), on_wait=st.info)
    try:
        return access.perform(con, actor, action, function, *args, target=target, **kwargs)
    except access.AccessDenied as exc:
        st.error(markdown_text(str(exc)))  # it names the actor
        st.stop()
    finally:
        con.close()
        st.cache_data.clear()


def read(function, *args: Any, **kwargs: Any) -> Any:
    """An uncached read (for records and single crises, which change with every action).

    A view among the arguments is limited to the current actor's segments, as in ``ask``.
    """
    limit = current_actor().segments
    args = tuple(replace(a, limit=limit) if isinstance(a, dashboard.View) else a for a in args)
    con = connect_for_reading(str(warehouse_path()))
    try:
        return function(con, *args, **kwargs)
    finally:
        con.close()


def db() -> str:
    return str(warehouse_path())


def stop_if_empty() -> WarehouseSummary:
    """Show the empty-warehouse message and end the page when there is nothing to show."""
    summary = load_summary(db())
    if summary.is_empty:
        st.info(text("empty"))
        st.stop()
    return summary


def table(frame: pl.DataFrame, name: str, key: str | None = None, customer_data: bool = True, **kwargs: Any) -> Any:
    """A table with its CSV download (formula-looking cells escaped); customers' personal data masked.

    ``customer_data=False`` is for the staff's own records (users, the audit log), shown whole.
    """
    if frame.is_empty():
        st.caption(text("no_data"))
        return None
    from metrics.reports.exports import csv_bytes

    if customer_data:
        frame = mask(frame)  # names, e-mail addresses and phone numbers, on screen and in the download
    shown = st.dataframe(frame, hide_index=True, width="stretch", key=key, **kwargs)
    st.download_button(
        f"Download {name} (CSV)",
        csv_bytes(frame),
        file_name=f"{name.replace(' ', '_')}.csv",
        mime="text/csv",
        key=f"download_{key or name}",
    )
    return shown


def style(figure: go.Figure, height: int = 360) -> go.Figure:
    """One look for every chart: room for labels, a font that carries Chinese."""
    figure.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        font={"family": "Inter, 'WenQuanYi Micro Hei', 'Noto Sans CJK SC', sans-serif"},
        # The legend sits under the plot so it never runs into the title.
        legend={"orientation": "h", "yanchor": "top", "y": -0.12, "x": 0},
    )
    return figure


def chart(figure: go.Figure, key: str | None = None) -> None:
    st.plotly_chart(style(figure), width="stretch", key=key)


def format_period(day: date | None) -> str:
    return "–" if day is None else f"{day:%Y-%m-%d}"
