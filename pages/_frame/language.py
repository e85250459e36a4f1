"""The interface's words in English and Chinese: the session's language, the pages' titles and every label.

Metric labels are not here: they come from the catalog (``View.label``). Words that the layers
below the pages hand up (crisis statuses, severities, types, grains, response steps, tile footers)
are in ``metrics.kpis.messages``; ``t()`` reads both, so there is one lookup.
"""

from __future__ import annotations

import streamlit as st

from metrics.kpis.messages import EN as BELOW_EN
from metrics.kpis.messages import ZH as BELOW_ZH

# Words of the interface in both languages; metric labels come from the catalog.
TEXT = {
    "en": {
        "filters": "Filters",
        "dates": "Dates",
        "language": "Language",
        "no_data": "No data for these filters. Widen the date range or clear a filter.",
        "no_complete_week": (
            "No week within the chosen dates is complete (Monday to Sunday, all covered by the data and the dates): "
            "there is no whole week's number to show. Widen the date range."
        ),
        "empty": "The warehouse is empty. Upload exports on the Upload page, or build the demo with `csat-radar demo`.",
    },
    "zh": {
        "filters": "筛选",
        "dates": "日期",
        "language": "语言",
        "no_data": "当前筛选条件下没有数据。请放宽日期范围或清除筛选。",
        "no_complete_week": (
            "所选日期内没有完整的一周（周一至周日，全部在数据和日期范围内）：没有整周的数字可显示。请放宽日期范围。"
        ),
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
        "限定细分（如 `team=Billing, team=Onboarding`；留空表示全部）"
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
    "Choose it in the box above.": "请在上方的框中选择。",
    "Choose its column in the lists above.": "请在上方的列表中选择它的列。",
    "Columns saved as profile": "列已保存为配置",
    "Columns: which of the file's columns holds each field (required ones first).": (
        "列：文件中哪一列对应各字段（必填项在前）。"
    ),
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
    "(none)": "（无）",
    "required": "必填",
    "saved": "已保存",
    "no column for": "没有对应的列：",
    "choose one above.": "请在上方选择。",
    "Save these columns as a profile named (optional)": "将这些列保存为配置，名称（可选）",
    "The next file with the same headers is then read with them, unasked.": (
        "之后表头相同的文件将自动按此读取，无需再问。"
    ),
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
    "Notifications sent:": "已发送通知：",
    "Notifications not sent:": "未发送通知：",
    "Notification failed, retried on the next scan:": "通知发送失败，下次扫描时重试：",
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
    # The crisis lists and the lifecycle (issue 20).
    "Show all open crises": "显示全部未关闭的危机",
    "Page": "页",
    "Open crises {first}–{last} of {total}, most severe first, then the latest flagged.": (
        "未关闭的危机第 {first}–{last} 条，共 {total} 条：按严重程度排序，同级按最近预警排序。"
    ),
    "escalated": "已升级",
    "{n} crises are back inside their limits and await a person's confirmation: choose status "
    "'recovered' to see them.": "{n} 个危机已回到控制限内，等待人工确认：在状态中选择“已恢复（待确认）”查看。",
    "Back inside its limits for {n} {grain} periods. Confirm the recovery once customers are satisfied "
    "again; a new flag before that puts it back on the open list.": (
        "已连续 {n} 个{grain}周期回到控制限内。客户满意度恢复后请确认恢复；确认前若再次预警，它将回到未关闭列表。"
    ),
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
    # A crisis's story (pages/_frame/crisis_story.py): place, cause, numbers behind, what customers say.
    "Why it happened": "原因分析",
    "Where": "位置",
    "The numbers behind": "背后的数字",
    "No segment breakdown is recorded for this crisis.": "该危机没有按细分的拆解记录。",
    "Each segment's share of the change splits into its own change and the change of its weight (mix).": (
        "每个细分在变化中的占比，拆分为其自身的变化和其权重（构成）的变化。"
    ),
    "What customers say": "客户怎么说",
    "No comments recorded for this place.": "该位置没有记录任何评论。",
    "comments in the crisis": "条危机期间的评论",
    "in the baseline before": "条此前基线期的评论",
    "No word or phrase rose beyond noise against the baseline.": "与基线相比，没有词语的上升超出噪声。",
    "Segment": "细分",
    "Share of the change": "占变化的比例",
    "Rate before": "此前比率",
    "Rate during": "期间比率",
    "Level before": "此前水平",
    "Level during": "期间水平",
    "Expected count": "预期数量",
    "Count during": "期间数量",
    "Own change (points)": "自身变化（百分点）",
    "Own change (minutes)": "自身变化（分钟）",
    "Own change (count)": "自身变化（数量）",
    "Own change (units)": "自身变化",
    "Change of mix (points)": "构成变化（百分点）",
    "Change of mix (minutes)": "构成变化（分钟）",
    "Change of mix (count)": "构成变化（数量）",
    "Change of mix (units)": "构成变化",
    "Share of the records": "记录占比",
    "Adjusted p (BH)": "校正后 p 值（BH）",
    "Beyond noise": "超出噪声",
    "Word or phrase": "词语",
    "Comments in the crisis": "危机期间评论数",
    "Comments before": "此前评论数",
    "Rise (z)": "上升幅度（z）",
    "More than 20,000 comments on a side: a random sample of 20,000 was read.": (
        "某一时段的评论超过 20,000 条：已随机抽取 20,000 条读取。"
    ),
    "The comments cannot be narrowed to this place: those of the whole organisation are read.": (
        "评论无法限定到该位置：已读取整个组织的评论。"
    ),
    # --- issue 21: catalog (the pages' words that still read in English in Chinese mode).
    "Run the detectors and record what they find in the log": "运行检测器，并把发现的危机记入日志",
    "Scanning every KPI and segment…": "正在扫描每项指标和细分……",
    "Scan found {n} crises; the log is up to date.": "扫描发现 {n} 个危机；日志已更新。",
    "#{id}: {type} in {place}": "#{id}：{place} 的{type}",
    "flagged {first} to {last} at {grain} grain": "预警时段 {first} 至 {last}（按{grain}）",
    "recovered: back inside limits, awaiting confirmation": "已恢复：已回到控制限内，等待确认",
    "Why this type.": "为何判为此类型。",
    "Why this severity.": "为何判为此严重程度。",
    "{n} most recent {kind} of the flagged periods (at most 500).": ("预警时段内最近的 {n} 条{kind}（最多 500 条）。"),
    "Enter your name first: every action in the log says who took it.": (
        "请先输入您的姓名：日志中的每项操作都记录操作人。"
    ),
    "Advance to {status}": "推进到：{status}",
    "Why {n}?": "为什么 {n}？",
    "Reviewed.": "已复盘。",
    "Root cause": "根本原因",
    "Latest complete week, starting {start}. Arrows show the change on the week before, coloured only when it "
    "is more than noise (5% level).": (
        "最近一个完整周，自 {start} 起。箭头表示与上一周相比的变化，仅当变化超出噪声（5% 显著性水平）时着色。"
    ),
    "open": "个未关闭",
    "**{type}** in {place} ({metric}), since {start}, last flagged {last}, {status}": (
        "**{type}**，位于 {place}（{metric}），自 {start} 起，最近预警 {last}，{status}"
    ),
    "{tickets} tickets, {answers} survey answers and {complaints} complaints in the warehouse; "
    "{rejected} rows rejected.": (
        "数据仓库中有 {tickets} 张工单、{answers} 份问卷回复和 {complaints} 条投诉；拒收 {rejected} 行。"
    ),
    "Your session has ended; please sign in again.": "您的会话已结束，请重新登录。",
    "Sign in": "登录",
    "Sign out": "退出登录",
    "Sign-in is on but there is no user yet: create the first administrator with "
    "`csat-radar users add NAME --role admin`.": (
        "已启用登录，但还没有用户：请用 `csat-radar users add NAME --role admin` 创建第一位管理员。"
    ),
    "Name": "用户名",
    "Password": "密码",
    "Signed in as **{name}** ({role})": "已登录：**{name}**（{role}）",
    ", limited to {segments}": "，限定于 {segments}",
    "Sign-in is off: everyone who can open this dashboard acts as an administrator. "
    "Set CSAT_RADAR_AUTH=password (or oidc) to require sign-in with the users below.": (
        "登录未启用：能打开此仪表板的每个人都以管理员身份操作。"
        "设置 CSAT_RADAR_AUTH=password（或 oidc）即可要求下列用户登录。"
    ),
    "Sign-in with name and password is on.": "已启用用户名和密码登录。",
    "Sign-in through the identity provider is on: a user here is the e-mail it vouches for.": (
        "已启用身份提供商登录：此处的用户即其认证的电子邮件地址。"
    ),
    "Warehouse": "数据仓库",
    "Last load": "最近导入",
    "none yet": "尚无",
    "A load from the command line is running (since {time} UTC): the pages show the warehouse as it was "
    "when it began.": ("命令行导入正在进行（自 UTC {time} 起）：页面显示的是导入开始时的数据仓库。"),
    "Data: {first} to {last} (UTC)": "数据：{first} 至 {last}（UTC）",
    "(incomplete)": "（不完整）",
    "{quarter} against {previous}. A change is called significant at the 5% level.": (
        "{quarter} 与 {previous} 对比。变化在 5% 水平上显著才称为显著。"
    ),
    "Targets: inquiries answered within 1 hour, complaints resolved within 24 hours.": (
        "目标：咨询在 1 小时内答复，投诉在 24 小时内解决。"
    ),
    "By {dimension}": "按{dimension}",
    "Complaints behind one {dimension}": "某一{dimension}的投诉明细",
    "{n} most recent complaints in {place} (at most 500).": "{place} 最近的 {n} 条投诉（最多 500 条）。",
    "{n} most recent {kind} of that period (at most 500).": "该时段最近的 {n} 条{kind}（最多 500 条）。",
    "Download {name} (CSV)": "下载此表（CSV）",
    "Read as **{format}**, encoding **{encoding}**, profile **{profile}**: {rows} rows, {valid} valid, "
    "{rejected} would be rejected.": (
        "按 **{format}** 读取，编码 **{encoding}**，导入模板 **{profile}**：共 {rows} 行，{valid} 行有效，"
        "{rejected} 行将被拒绝。"
    ),
    "Load {n} file(s)": "导入 {n} 个文件",
    "Loading…": "正在导入……",
    "Loading {name}…": "正在导入 {name}……",
    "Done": "完成",
    "Computing…": "正在计算……",
    "Rejected by reason: ": "按原因统计的拒收：",
    "Batch {batch} undone: {removed} rows it added removed, {restored} rows it replaced restored.": (
        "批次 {batch} 已撤销：删除其新增的 {removed} 行，恢复其替换的 {restored} 行。"
    ),
    # --- issue 21: overview, review, frame
    "Target": "目标",
    "target": "目标",
    "Latest complete week, starting {week}. Arrows show the change on the week before, "
    "coloured only when it is more than noise (5% level).": (
        "最近一个完整周，自 {week} 起。箭头表示与前一周相比的变化，仅在超出噪声（5% 水平）时着色。"
    ),
    "Warehouse:": "数据仓库：",
    "Last load:": "最近导入：",
    "Every KPI with a target met it, or is too close to call.": "所有设有目标的指标均已达标，或差距在不确定范围内。",
    "Targets missed:": "未达标的目标：",
    "Value": "数值",
    "n": "样本数",
    "Previous quarter": "上季度",
    "Change": "变化",
    "Significant change": "显著变化",
    "yes": "是",
    "no": "否",
    "Download KPIs (CSV)": "下载指标（CSV）",
    "**{count}** open": "**{count}** 个未关闭",
    "**{type}** in {where} ({metric}), since {start}, last flagged {last}, {status}": (
        "{where} 的{metric}**{type}**，始于 {start}，最近预警 {last}，{status}"
    ),
    "No user added yet.": "尚未添加用户。",
    "Nothing recorded yet: every sign-in, load and change is listed here once it happens.": (
        "尚无记录：每次登录、导入和修改发生后都会列在这里。"
    ),
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


def language() -> str:
    return st.session_state.get("language", "en")


def text(key: str) -> str:
    return TEXT[language()][key]


def t(english: str) -> str:
    """The interface's words in the chosen language (English is the key).

    One lookup for every word on screen: the pages' table first, then the words the layers below
    hand up (``metrics.kpis.messages``: statuses, severities, grains, response steps).
    """
    if language() != "zh":
        return BELOW_EN.get(english, english)  # a stored code ("sudden_event") as its words
    return ZH.get(english) or BELOW_ZH.get(english, english)


def page_title(page: str) -> str:
    english, chinese = PAGE_TITLES[page]
    return chinese if language() == "zh" else english
