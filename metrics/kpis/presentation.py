"""How a table's columns read to people: a worded header and one rendering per kind of column.

Every table a page shows goes through ``present`` (pages/_frame/display.py ``table()``), so a
column reads the same on every page: a share as 90.5%, a duration in the one unit its column's
values suit, a date without a midnight time, a missing value as "–", a code as words. The rules
for one value stay in ``formats.py``; this module picks the rule for each column by its name.
Downloads keep the machine names and raw numbers (``present`` is for the screen only).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time

import polars as pl

from metrics.kpis.catalog import catalog
from metrics.kpis.compute import STATUSES
from metrics.kpis.formats import MISSING, format_p_value, format_value

# What a column holds, and so how it reads:
#   text      words as loaded             id        a number naming a row (no thousands separator)
#   count     1,234                       number    1,234.57
#   percent   a share 0.905 → 90.5%       score     NPS -1..1 → +38
#   minutes   a duration in minutes       hours     a duration in hours (both: one unit per column)
#   date      2026-03-02                  datetime  2026-03-02 14:05 (UTC)
#   status    a code in words, coloured   boolean   yes / no
#   p_value   < 0.001                     metric    a KPI's value in its own format (``value_format``)
#   kpi       a KPI's name as its catalog label     status_text  a KPI status's sentence, in the language
KINDS = (
    "text", "id", "count", "number", "percent", "score", "minutes", "hours", "date", "datetime", "status",
    "boolean", "p_value", "metric", "kpi", "status_text",
)  # fmt: skip


@dataclass(frozen=True)
class Column:
    label: str
    label_zh: str
    kind: str


def _c(label: str, label_zh: str, kind: str = "text") -> Column:
    return Column(label, label_zh, kind)


# Every column a page's table shows, by its name in the frame the view-model returns.
COLUMNS: dict[str, Column] = {
    # KPI series and the quarterly review.
    "period_start": _c("Period", "周期", "date"),
    "period_end": _c("Period end", "周期结束", "date"),
    "segment": _c("Segment", "细分"),
    "metric": _c("KPI", "指标", "kpi"),
    "label": _c("KPI", "指标", "kpi"),
    "value": _c("Value", "数值", "metric"),
    "ci_low": _c("95% interval, low", "95% 区间下限", "metric"),
    "ci_high": _c("95% interval, high", "95% 区间上限", "metric"),
    "interval": _c("95% interval", "95% 区间"),
    "n": _c("Records", "记录数", "count"),
    "records": _c("Records", "记录数", "count"),
    "target": _c("Target", "目标", "metric"),
    "status": _c("Status", "状态", "status"),
    "status_text": _c("Status", "状态", "status_text"),
    "complete": _c("Whole period", "完整周期", "boolean"),
    "reason": _c("Why no data", "无数据原因"),
    "note": _c("Note", "备注"),
    "previous_quarter": _c("Previous quarter", "上一季度", "count"),
    "change": _c("Change", "变化"),
    "change_significant": _c("Significant change", "显著变化", "boolean"),
    "q_value": _c("Adjusted p (BH)", "校正后 p 值（BH）", "p_value"),
    "p_value": _c("p-value", "p 值", "p_value"),
    # Crises.
    "id": _c("No.", "编号", "id"),
    "crisis_id": _c("No.", "编号", "id"),
    "severity": _c("Severity", "严重程度", "status"),
    "escalated": _c("Escalated", "已升级", "boolean"),
    "type": _c("Type", "类型", "status"),
    "where": _c("Where", "位置"),
    "cause": _c("Cause", "原因"),
    "start": _c("Start", "开始", "date"),
    "end": _c("End", "结束", "date"),
    "last flagged": _c("Last flagged", "最近预警", "date"),
    "handling_reached": _c("Handling reached", "处理进度", "status"),
    "owner": _c("Owner", "负责人"),
    "grain": _c("Grain", "粒度", "status"),
    "root_cause": _c("Root cause", "根本原因", "status"),
    "review": _c("Review", "复盘"),
    # Complaints and process stages.
    "complaints": _c("Complaints", "投诉数", "count"),
    "share": _c("Share", "占比", "percent"),
    "cumulative_share": _c("Cumulative share", "累计占比", "percent"),
    "case_type": _c("Case type", "案件类型"),
    "tickets": _c("Tickets", "工单数", "count"),
    "first_response_median_h": _c("First response, median", "首次响应中位数", "hours"),
    "first_response_p90_h": _c("First response, 90th percentile", "首次响应第 90 百分位", "hours"),
    "resolution_median_h": _c("Resolution, median", "解决时间中位数", "hours"),
    "resolution_p90_h": _c("Resolution, 90th percentile", "解决时间第 90 百分位", "hours"),
    # Records behind a figure (tickets, survey answers, complaints).
    "ticket_id": _c("Ticket", "工单"),
    "response_id": _c("Answer", "答卷"),
    "complaint_id": _c("Complaint", "投诉"),
    "created_at": _c("Created", "创建时间", "datetime"),
    "first_response_at": _c("First response", "首次响应时间", "datetime"),
    "resolved_at": _c("Resolved", "解决时间", "datetime"),
    "closed_at": _c("Closed", "关闭时间", "datetime"),
    "responded_at": _c("Answered", "回答时间", "datetime"),
    "survey_type": _c("Survey", "问卷类型", "status"),
    "score": _c("Score", "评分", "count"),
    "scale": _c("Scale", "量表"),
    "is_satisfied": _c("Satisfied", "满意", "boolean"),
    "is_complaint": _c("Complaint", "投诉", "boolean"),
    "channel": _c("Channel", "渠道"),
    "category": _c("Category", "类别"),
    "priority": _c("Priority", "优先级"),
    "team": _c("Team", "团队"),
    "agent": _c("Agent", "客服"),
    "product": _c("Product", "产品"),
    "region": _c("Region", "地区"),
    "customer_tier": _c("Customer tier", "客户等级"),
    "customer_id": _c("Customer", "客户"),
    "complaint_text": _c("Complaint text", "投诉内容"),
    "reopen_count": _c("Reopened", "重开次数", "count"),
    "agent_replies": _c("Agent replies", "客服回复数", "count"),
    # Loads (Upload page) and their rejected rows.
    "batch_id": _c("Batch", "批次", "id"),
    "file_name": _c("File", "文件"),
    "kind": _c("Kind", "类型", "status"),
    "rows_read": _c("Rows read", "读取行数", "count"),
    "rows_loaded": _c("Rows loaded", "载入行数", "count"),
    "rows_updated": _c("Rows updated", "更新行数", "count"),
    "rows_duplicate": _c("Duplicates", "重复行数", "count"),
    "rows_rejected": _c("Rows rejected", "拒收行数", "count"),
    "started_at": _c("Started", "开始时间", "datetime"),
    "finished_at": _c("Finished", "完成时间", "datetime"),
    "loaded_at": _c("Loaded", "载入时间", "datetime"),
    "loaded_by": _c("Loaded by", "载入人"),
    "as_of": _c("Data as of", "数据截至", "datetime"),
    "line_number": _c("Line", "行号", "id"),
    "raw_record": _c("Record as read", "原始记录"),
    "record": _c("Record as read", "原始记录"),
    "profile": _c("Column profile", "列映射配置"),
    "column_name": _c("Column", "列"),
    # Staff (Administration): users and the audit log.
    "name": _c("Name", "姓名"),
    "role": _c("Role", "角色", "status"),
    "segments": _c("Segments", "可见细分"),
    "audit_id": _c("No.", "编号", "id"),
    "occurred_at": _c("When", "时间", "datetime"),
    "actor": _c("Who", "操作人"),
    "action": _c("Action", "操作", "status"),
    "outcome": _c("Outcome", "结果", "status"),
    "detail": _c("Detail", "详情"),
    "username": _c("User", "用户"),
    "disabled": _c("Disabled", "已停用", "boolean"),
    "has_password": _c("Password set", "已设密码", "boolean"),
    "created_by": _c("Created by", "创建人"),
    "password_set_at": _c("Password set at", "密码设置时间", "datetime"),
    "bound": _c("Bound", "方向"),
    # A crisis's history (crisis_events).
    "event_id": _c("No.", "编号", "id"),
    "at": _c("When", "时间", "datetime"),
    "from_value": _c("From", "从", "status"),
    "to_value": _c("To", "到", "status"),
}

# Codes the data and the radar write, in words: KPI statuses, crisis statuses, severities and types.
# A KPI's status reads as compute.STATUSES words it (the Chinese as pages/_frame/language.py has it).
CODE_WORDS: dict[str, tuple[str, str]] = {
    "met": (STATUSES["met"], "达标"),
    "not_credibly_missed": (STATUSES["not_credibly_missed"], "低于目标，但在不确定范围内"),
    "missed": (STATUSES["missed"], "确实未达标"),
    "small_sample": (STATUSES["small_sample"], "样本太少，无法判断"),
    "no_target": (STATUSES["no_target"], "未设目标"),
    "no_data": (STATUSES["no_data"], "无数据"),
    "critical": ("critical", "严重"),
    "major": ("major", "重大"),
    "minor": ("minor", "轻微"),
    "observe": ("observe", "观察"),
    "detected": ("detected", "已发现"),
    "acknowledged": ("acknowledged", "已确认"),
    "response_plan_active": ("response plan active", "应对方案执行中"),
    "resolving": ("resolving", "处理中"),
    "recovered": ("recovered", "已恢复"),
    "resolved": ("resolved", "已解决"),
    "reviewed": ("reviewed", "已复盘"),
    "service_quality": ("service quality", "服务质量"),
    "communication_failure": ("communication failure", "沟通失误"),
    "sudden_event": ("sudden event", "突发事件"),
    "customer_satisfaction": ("customer satisfaction", "客户满意度"),
    "week": ("week", "周"),
    "month": ("month", "月"),
    "quarter": ("quarter", "季度"),
    "day": ("day", "日"),
}
# What a coloured status means: bad in red, in between in orange, good in green, not judged in grey.
STATUS_COLOURS = {
    "met": "#1b7f3b", "not_credibly_missed": "#b26a00", "missed": "#c62828", "small_sample": "#616e7c",
    "no_target": "#616e7c", "no_data": "#616e7c", "critical": "#c62828", "major": "#b26a00", "minor": "#1f5fbf",
    "observe": "#616e7c",
}  # fmt: skip
BOOLEAN_WORDS = {"en": ("yes", "no"), "zh": ("是", "否")}
# A duration column reads in the unit its typical (median) value suits, like format_value's single values.
DURATION_UNITS = (("d", 2 * 24 * 60), ("h", 120), ("min", 0))
UNIT_WORDS = {"en": {"d": "d", "h": "h", "min": "min"}, "zh": {"d": "天", "h": "小时", "min": "分钟"}}


def column(name: str) -> Column:
    """A column's entry; a name not listed reads as words (underscores as spaces), its kind from its type."""
    if name in COLUMNS:
        return COLUMNS[name]
    # Already words ("Own change (pts)", a KPI's label "CSAT") stay as they are; a code name loses its underscores.
    worded = name if "_" not in name else name.replace("_", " ")[:1].upper() + name.replace("_", " ")[1:]
    return Column(worded, worded, "")


def label(name: str, lang: str = "en") -> str:
    entry = column(name)
    return entry.label_zh if lang == "zh" else entry.label


def words(code: str | None, lang: str = "en") -> str:
    """A code such as "not_credibly_missed" as words, in the language; any other code with spaces for underscores."""
    if code is None:
        return MISSING
    known = CODE_WORDS.get(code)
    if known:
        return known[1] if lang == "zh" else known[0]
    return code.replace("_", " ")


def duration_unit(minutes: pl.Series) -> str:
    """The one unit a column of durations (in minutes) reads in, from its median value."""
    typical = minutes.drop_nulls().drop_nans().abs().median() if minutes.dtype.is_float() else None
    typical = minutes.drop_nulls().abs().median() if typical is None and minutes.drop_nulls().len() else typical
    typical = float(typical or 0)
    return next(unit for unit, floor in DURATION_UNITS if typical >= floor)


def durations(minutes: pl.Series, lang: str = "en") -> pl.Series:
    """Durations in minutes as text in one unit for the whole column: 6 min, 11.5 h, 4.6 d; missing as "–"."""
    unit = duration_unit(minutes)
    scale = {"d": 1440.0, "h": 60.0, "min": 1.0}[unit]
    scaled = minutes.cast(pl.Float64) / scale
    decimals = 0 if unit == "min" and (scaled.drop_nulls().abs().median() or 0) >= 10 else 1
    suffix = UNIT_WORDS.get(lang, UNIT_WORDS["en"])[unit]
    shown = scaled.round(decimals).map_elements(lambda v: f"{v:,.{decimals}f} {suffix}", return_dtype=pl.String)
    return shown.fill_null(MISSING)


def _kpi_kinds() -> dict[str, str]:
    """A column named by a KPI's label (by_segment's tables) holds that KPI's values: their kind."""
    kinds = {"percent": "percent", "minutes": "minutes", "count": "count", "score": "score", "decimal": "number"}
    return {
        shown: kinds.get(m.format, "number")
        for m in catalog().values()
        for shown in (m.display_label("en"), m.display_label("zh"))
    }


def _kind(name: str, dtype: pl.DataType) -> str:
    kind = column(name).kind
    if kind:
        return kind
    if dtype.is_numeric() and name in _kpi_kinds():
        return _kpi_kinds()[name]
    if dtype == pl.Boolean:
        return "boolean"
    if dtype == pl.Date:
        return "date"
    if isinstance(dtype, pl.Datetime):
        return "datetime"
    if dtype.is_integer():
        return "count"
    return "number" if dtype.is_float() else "text"


def _render(series: pl.Series, kind: str, lang: str, value_format: str | None) -> pl.Series:
    """One column as people read it (text, or integers kept as numbers so they sort)."""
    if kind == "metric":
        kind = {"percent": "percent", "minutes": "minutes", "count": "count", "score": "score"}.get(
            value_format or "", "number"
        )
    if kind == "text":
        return series.cast(pl.String).fill_null(MISSING)
    if kind == "minutes":
        return durations(series, lang)
    if kind == "hours":
        return durations(series.cast(pl.Float64) * 60, lang)
    if kind in ("date", "datetime") and series.dtype == pl.String:
        # Dates already written as text (the review's): without a midnight time.
        return series.str.replace(r"[ T]00:00(:00)?(\.0+)?([+-]00:?00|Z| UTC)?$", "").fill_null(MISSING)
    if kind == "date":
        return series.cast(pl.Date).dt.strftime("%Y-%m-%d").fill_null(MISSING)
    if kind == "datetime":
        moments = series.dt.convert_time_zone("UTC") if series.dtype.time_zone else series  # type: ignore[union-attr]
        # A column of midnights holds dates (an export without times): shown as dates.
        dates_only = bool((moments.dt.time().drop_nulls() == time(0)).all())
        return moments.dt.strftime("%Y-%m-%d" if dates_only else "%Y-%m-%d %H:%M").fill_null(MISSING)
    if kind == "boolean" and series.dtype != pl.Boolean:  # already words (the review's yes / no)
        yes, no = BOOLEAN_WORDS.get(lang, BOOLEAN_WORDS["en"])
        return series.cast(pl.String).replace({"yes": yes, "no": no}).fill_null(MISSING)
    if kind == "status_text":
        codes = {sentence: code for code, sentence in STATUSES.items()}
        return series.map_elements(lambda s: words(codes[s], lang) if s in codes else s, return_dtype=pl.String)
    if kind == "boolean":
        yes, no = BOOLEAN_WORDS.get(lang, BOOLEAN_WORDS["en"])
        return pl.select(pl.when(series).then(pl.lit(yes)).when(~series).then(pl.lit(no)).otherwise(pl.lit(MISSING)))[
            :, 0
        ].alias(series.name)
    if kind == "kpi":
        # By its name (the crisis log) or its English label (the review): the label in the language.
        names = {key: m.display_label(lang) for name, m in catalog().items() for key in (name, m.label)}
        return series.cast(pl.String).map_elements(lambda c: names.get(c, words(c, lang)), return_dtype=pl.String)
    if kind == "status":
        return series.cast(pl.String).map_elements(lambda c: words(c, lang), return_dtype=pl.String).fill_null(MISSING)
    if kind == "p_value":
        return series.map_elements(format_p_value, return_dtype=pl.String, skip_nulls=False)
    if kind in ("count", "id") and series.dtype.is_integer() and series.null_count() == 0:
        return series  # a number still, so the table sorts it as one
    if kind == "id":
        return series.cast(pl.String).fill_null(MISSING)
    fmt = {"percent": "percent", "score": "score", "count": "count"}.get(kind, "decimal")
    if not series.dtype.is_numeric():
        return series.cast(pl.String).fill_null(MISSING)
    return series.map_elements(lambda v: format_value(v, fmt), return_dtype=pl.String, skip_nulls=False)


def present(frame: pl.DataFrame, lang: str = "en", value_format: str | None = None) -> pl.DataFrame:
    """``frame`` as a table shows it: worded headers, every cell as people read it.

    ``value_format`` (a catalog ``format``) says how a KPI's value, interval and target columns read.
    Headers two columns would share (a label and a status both reading "Status") keep the first.
    """
    columns, headers = [], set()
    for name, dtype in frame.schema.items():
        header = label(name, lang)
        if header in headers:
            continue
        headers.add(header)
        columns.append(_render(frame[name], _kind(name, dtype), lang, value_format).alias(header))
    return pl.DataFrame(columns)


def status_colours(frame: pl.DataFrame, lang: str = "en") -> dict[str, dict[str, str]]:
    """For each shown status column (by its header), the colour of each word a coloured code reads as."""
    colours = {words(code, lang): colour for code, colour in STATUS_COLOURS.items()}
    # The review's status sentences (compute.STATUSES) carry their code's colour too.
    colours |= {sentence: STATUS_COLOURS[code] for code, sentence in STATUSES.items() if code in STATUS_COLOURS}
    colours |= {words(code, "zh"): colour for code, colour in STATUS_COLOURS.items()} if lang == "zh" else {}
    coloured = [name for name in frame.columns if _kind(name, frame.schema[name]) in ("status", "status_text")]
    return {label(name, lang): colours for name in coloured}
