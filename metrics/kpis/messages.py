"""The words that the layers below the pages hand up, in English and Chinese: one lookup, ``say``.

The pages' own words live in ``pages/_frame/language.py`` and its ``t()`` looks here after its own
table, so a page, a view-model and the command line translate a word the same way. The catalog is
a dict keyed by the English rather than gettext: the project has no build step to compile ``.mo``
files, a dict's gaps are found by a test that reads it, and every string has exactly one home.

Codes the data stores (a severity ``major``, a status ``response_plan_active``, a grain ``week``)
are keys too: ``say("major", "zh")`` is the word a person reads. Crisis reasons are stored in the
log in English (the log is the record and the command line's JSON quotes them); ``reason_text``
renders them in Chinese from their fixed phrases, so reasons already logged translate as well and
no migration rewrites the log. A phrase it does not know stays in English rather than vanish.
"""

from __future__ import annotations

import re

LANGUAGES = ("en", "zh")

ZH: dict[str, str] = {
    # Crisis severities (metrics.crises.model.SEVERITIES).
    "observe": "观察",
    "minor": "轻微",
    "major": "严重",
    "critical": "危急",
    # Crisis statuses (metrics.crises.model.STATUSES).
    "detected": "已发现",
    "acknowledged": "已受理",
    "response_plan_active": "应对计划执行中",
    "resolving": "处理中",
    "recovered": "已恢复（待确认）",
    "resolved": "已解决",
    "reviewed": "已复盘",
    # Crisis types (metrics.crises.model.CRISIS_TYPES).
    "service_quality": "服务质量危机",
    "communication_failure": "沟通失误",
    "sudden_event": "突发事件",
    "customer_satisfaction": "客户满意度危机",
    # Fishbone categories (metrics.crises.model.FISHBONE_CATEGORIES).
    "people": "人员",
    "process": "流程",
    "technology": "技术",
    "policy": "政策",
    "environment": "环境",
    "communication": "沟通",
    "measurement": "测量",
    # Grains.
    "day": "日",
    "week": "周",
    "month": "月",
    "quarter": "季度",
    # Dimensions and places.
    "overall": "整体",
    "all": "全部",
    "channel": "渠道",
    "team": "团队",
    "product": "产品",
    "region": "地区",
    "customer_tier": "客户等级",
    "category": "类别",
    # Record kinds.
    "tickets": "工单",
    "surveys": "问卷",
    "complaints": "投诉",
    "orders": "订单",
    # Target bounds and roles.
    "min": "下限（≥）",
    "max": "上限（≤）",
    "admin": "管理员",
    "analyst": "分析师",
    "manager": "经理",
    "viewer": "查看者",
    # Choices that mean "nothing chosen".
    "(any)": "（全部）",
    "(none)": "（无）",
    "Choose options": "请选择",
    "Choose an option": "请选择",
    # A tile's footer.
    "Target": "目标",
    "no target": "未设目标",
    "95% interval": "95% 置信区间",
    "n": "样本数",
    # Recommended responses (metrics.crises.handling.RESPONSE_STEPS), in order per type.
    "Confirm which teams, agents and channels the drop is concentrated in": "确认下降集中在哪些团队、客服和渠道",
    "Name an owner and coach the affected team, or reassign its cases to experienced agents": (
        "指定负责人并辅导受影响的团队，或将其工单改派给有经验的客服"
    ),
    "Restore the first-response SLA: add staff to the queue and clear the backlog": (
        "恢复首次响应 SLA：为队列增派人手并清理积压"
    ),
    "Simplify the process step customers find slow or opaque": "简化客户认为缓慢或不透明的流程环节",
    "Call back dissatisfied customers and resolve their open cases": "回访不满意的客户并解决其未结工单",
    "Confirm CSAT, response times and reopen rate are back inside limits, then review": (
        "确认满意度、响应时长和重开率已回到控制限内，然后复盘"
    ),
    "Identify the wrong or missing information and every customer who received it": (
        "找出错误或缺失的信息，以及收到该信息的每位客户"
    ),
    "Correct the information with each affected customer": "向每位受影响的客户更正信息",
    "Apologise where the information or the language was wrong": "信息或措辞有误之处向客户致歉",
    "Fix the script and the knowledge-base entry at the source": "从源头修正话术脚本和知识库条目",
    "Brief agents on the correction and on appropriate language": "向客服通报更正内容和恰当的措辞",
    "Watch repeat contacts and information complaints until they fall back, then review": (
        "持续关注重复联系和信息类投诉，直到回落，然后复盘"
    ),
    "Activate the emergency plan: a lead, analysts and an external-communication owner": (
        "启动应急预案：指定负责人、分析人员和对外沟通负责人"
    ),
    "Find and contain the cause (outage, data loss, security breach, accident)": (
        "查明并控制原因（服务中断、数据丢失、安全事件、事故）"
    ),
    "Publish public information early and update it as the situation changes": "尽早发布公开信息，并随情况变化更新",
    "Add contact capacity for the surge and work the backlog by priority": (
        "为激增的联系量增加接待能力，并按优先级处理积压"
    ),
    "Compensate affected customers where due": "对应予补偿的受影响客户进行补偿",
    "Monitor volume and response times until they are normal, then review to prevent recurrence": (
        "监控工单量和响应时长直至恢复正常，然后复盘以防再次发生"
    ),
    "Find where expectations and the service delivered diverge (survey dimensions, complaint causes)": (
        "找出客户期望与实际服务的差距（问卷维度、投诉原因）"
    ),
    "Contact key accounts one-to-one to hear and address their concerns": "一对一联系重点客户，倾听并解决其关切",
    "Inform other customers by announcement of what will change": "通过公告告知其他客户将有哪些改变",
    "Close the expectation gap: fix the service or reset the promise": "弥合期望差距：改进服务或重新设定承诺",
    "Follow up on negative comments and compensate where due": "跟进负面评论，应予补偿的进行补偿",
    "Track CSAT until it is back at target, then write the review": "跟踪满意度直至回到目标，然后撰写复盘",
}

# Stored codes whose English word differs from the code (no underscores on screen).
EN: dict[str, str] = {
    "response_plan_active": "response plan active",
    "service_quality": "service quality",
    "communication_failure": "communication failure",
    "sudden_event": "sudden event",
    "customer_satisfaction": "customer satisfaction",
    "customer_tier": "customer tier",
}

# The fixed phrases of the stored crisis reasons (crisis_rules.toml's typing reasons, classify.severity,
# radar.concentrated), longest first so a phrase is not cut by a shorter one; numbers and segment
# names between them are the data's own and stay as they are.
REASON_PHRASES_ZH: tuple[tuple[str, str], ...] = (
    (
        r"early warning: a slow slide against its peers, ramp score z=(-?[\d.]+|nan); "
        r"a crisis when it reaches z=([\d.]+)",
        r"预警：相对同类缓慢下滑，斜坡评分 z=\1；达到 z=\2 即为危机",
    ),
    (r"drifted down (\d+) points", r"逐步下降 \1 个百分点"),
    (r"\b(?:fell|down) (\d+) points", r"下降 \1 个百分点"),
    (r"with no single cause in volume or response times", "，工单量和响应时长中没有单一原因"),
    (r"moved beyond their control limits", "超出控制限"),
    (r"customer-satisfaction crisis", "客户满意度危机"),
    (r"service-quality crisis", "服务质量危机"),
    (r"communication failure", "沟通失误"),
    (r"sudden event", "突发事件"),
    (r"first responses within SLA", "SLA 内首次响应率"),
    (r"first-contact resolution", "首次解决率"),
    (r"without a ticket surge", "，工单量未激增"),
    (r"customers affected", "位客户受影响"),
    (r"points beyond target", "个百分点超出目标"),
    (r"its usual level", "常规水平"),
    (r"of the whole organisation", "（整个组织）"),
    (r"in one step", "（一步之内）"),
    (r"reopen rate", "重开率"),
    (r"complaints", "投诉"),
    (r"no target", "未设目标"),
    (r"confidence", "置信度"),
    (r"drifted down", "逐步下降"),
    (r"\bpoints\b", "分"),
    (r"\beffect\b", "效应"),
    (r"\bcategory\b", "类别"),
    (r"\bwithin (\d+) days\b", r"（\1 天内）"),
    (r"\bover (\d+) days\b", r"（\1 天内）"),
    (r"\bfell from\b", "从"),
    (r"\brose from\b", "从"),
    (r"\brose to\b", "升至"),
    (r"\brose\b", "上升"),
    (r"\bfell\b", "下降"),
    (r"\bto\b", "变为"),
    (r"\bdown\b", "下降"),
    (r"\band\b", "及"),
    (r"\bin\b", ""),
    (r"\bKPIs\b", "指标"),
    (r"\bcustomer_tier\b", "客户等级"),
    (r"\bchannel\b", "渠道"),
    (r"\bteam\b", "团队"),
    (r"\bproduct\b", "产品"),
    (r"\bregion\b", "地区"),
)

# The fixed phrases of the charts' method notes (metrics.crises.flag's chart names, metrics.kpis.trends'
# forecast and decomposition), rendered the same way as the reasons.
METHOD_PHRASES_ZH: tuple[tuple[str, str], ...] = (
    (
        r"Laney p' chart: observed variation ([\d.]+)x what binomial sampling allows, limits widened",
        r"Laney p' 控制图：观测变异为二项抽样允许值的 \1 倍，控制限已放宽",
    ),
    (
        r"p-chart: observed variation ([\d.]+)x binomial, limits from each period's own sample size",
        r"p 控制图：观测变异为二项分布的 \1 倍，控制限按每期样本量计算",
    ),
    (
        r"Western Electric rules 1-4, EWMA and binomial CUSUM on top",
        "叠加 Western Electric 规则 1-4、EWMA 和二项 CUSUM",
    ),
    (r", and a ramp score against its peers for slow slides", "，并以同类对比的斜坡评分识别缓慢下滑"),
    (r"XmR chart of the logarithm \(robust limits\)", "对数 XmR 控制图（稳健控制限）"),
    (r", each weekday against earlier ones", "，每个工作日与此前同一工作日对比"),
    (r"counts against the same weekday of the previous eight weeks", "与前八周同一工作日的数量对比"),
    (r"counts against the same previous eight weeks", "与前八周的数量对比"),
    (
        r"Holt's damped additive trend \(ETS A,Ad,N\), no seasonal term, (\d+)% prediction interval",
        r"Holt 阻尼加法趋势（ETS A,Ad,N），无季节项，\1% 预测区间",
    ),
    (r" \(fit did not fully converge\)", "（拟合未完全收敛）"),
    (r"STL \(period (\d+), robust\)", r"STL（周期 \1，稳健）"),
    (r"centred moving average \(too few weeks for STL\)", "中心移动平均（周数不足以做 STL）"),
    (
        r"no forecast: too few weeks \((\d+) observed, at least (\d+) needed\)",
        r"无预测：周数太少（已观测 \1 周，至少需要 \2 周）",
    ),
    (r"Already below the target (\S+)", r"已低于目标 \1"),
    (r"Already above the target (\S+)", r"已高于目标 \1"),
    (r"At this trend the target (\S+) is crossed in about (\d+) weeks?", r"按当前趋势，约 \2 周后越过目标 \1"),
)


def say(english: str, lang: str) -> str:
    """``english`` (a word, a phrase or a stored code) in ``lang``; itself when there is no translation."""
    return ZH.get(english, english) if lang == "zh" else EN.get(english, english)


def reason_text(reason: str, lang: str) -> str:
    """A stored crisis reason (English) in ``lang``: its fixed phrases translated, its data kept."""
    if lang != "zh" or not reason:
        return reason
    # The typing rules' own noun first: a metric label it shares words with names a share, not a count.
    first = (
        (r"of the extra complaints about information or attitude", "的新增投诉涉及信息或态度"),
        (r"complaints about information or attitude", "信息或态度类投诉"),
    )
    return _rendered(reason, first + _metric_phrases() + REASON_PHRASES_ZH)


def _metric_phrases() -> tuple[tuple[str, str], ...]:
    """The metric names a reason quotes (the catalog's labels, lower-cased), longest first, with their Chinese."""
    from metrics.kpis.catalog import catalog  # the catalog reads its file: only when a reason is rendered

    names = sorted(catalog().values(), key=lambda m: -len(m.label))
    return tuple((re.escape(m.label.lower()), m.display_label("zh")) for m in names)


def method_text(method: str, lang: str) -> str:
    """A chart's method note (English, from the layers that compute it) in ``lang``."""
    return _rendered(method, METHOD_PHRASES_ZH) if lang == "zh" and method else method


def _rendered(text: str, phrases: tuple[tuple[str, str], ...]) -> str:
    for pattern, chinese in phrases:
        text = re.sub(pattern, chinese, text)
    return re.sub(r" {2,}", " ", text).strip()
