"""A crisis's cause in words, and the numbers behind it, from its contributors (see contributors.py).

Pure functions of the contributor records a crisis stores: no query. A segment is named only when
it passes the multiple-testing control (Benjamini-Hochberg, ``significant``) and carries more of the
change than its share of the records (``min_excess_share`` in crisis_rules.toml): a segment that
holds 90% of the tickets and 92% of the change is the place itself, not a cause. The sentences are
in English or Chinese (``lang``); the numbers go through metrics/kpis/formats.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from metrics.crises.rules import rules, scanned_metric
from metrics.kpis.catalog import metric
from metrics.kpis.formats import MISSING, format_change, format_p_value, format_value

# A dimension as a sentence names it: singular, plural and Chinese. attr:NAME dimensions use NAME.
DIMENSION_WORDS = {
    "channel": ("channel", "channels", "渠道"),
    "team": ("team", "teams", "团队"),
    "agent": ("agent", "agents", "坐席"),
    "product": ("product", "products", "产品"),
    "region": ("region", "regions", "地区"),
    "category": ("category", "categories", "类别"),
    "customer_tier": ("customer tier", "customer tiers", "客户等级"),
}
# The sentences, by language: the one place their wording lives.
SENTENCES = {
    "en": {
        "named": "{place} carries {share} of the {change} in {label} ({side} went from {before} to {during}, "
        "with {weight} of the records){over}; {others}",
        "over": " — more than all of it, as other {plural} moved the other way",
        "alone": "no other {singular} changed beyond noise.",
        "others": "{count} other {plural} also changed beyond noise.",
        "others_named": "{count} other {plural} also changed beyond noise, the largest {names}.",
        "proportionate": "No single segment explains it: the change is spread across {dimensions} in proportion to "
        "their size.",
        "spread": "No single segment explains it: the change is spread across {dimensions}, none beyond noise.",
        "not_worse": "No single segment explains it: against the periods just before, {label} did not worsen here "
        "({before} → {during}).",
        "unknown": "No breakdown by segment is recorded for this crisis.",
        "rise": "rise",
        "fall": "fall",
        "side_rate": "its rate",
        "side_level": "its level",
        "side_count": "its count per window",
        "and": " and ",
        "against": "against the change",
        "untested": "too few to test",
        "yes": "yes",
        "no": "no",
    },
    "zh": {
        "named": "{place}承担了{label}{change}的 {share}（其{side}由 {before} 变为 {during}，"
        "记录占比 {weight}）{over}；{others}",
        "over": "，超过全部变化，因为其他{plural}向相反方向变化",
        "alone": "其他{singular}的变化均在噪声范围内。",
        "others": "另有 {count} 个{plural}的变化超出噪声。",
        "others_named": "另有 {count} 个{plural}的变化超出噪声，最大的是{names}。",
        "proportionate": "没有单一细分可以解释：变化按规模分布在{dimensions}之间。",
        "spread": "没有单一细分可以解释：变化分布在{dimensions}之间，均未超出噪声。",
        "not_worse": "没有单一细分可以解释：与紧邻的前几个时段相比，{label}在此并未恶化（{before} → {during}）。",
        "unknown": "该危机没有按细分的拆解记录。",
        "rise": "上升",
        "fall": "下降",
        "side_rate": "比率",
        "side_level": "水平",
        "side_count": "每个时段的数量",
        "and": "、",
        "against": "与变化方向相反",
        "untested": "样本太少，未检验",
        "yes": "是",
        "no": "否",
    },
}


@dataclass(frozen=True)
class Cause:
    """The cause in words; ``kind``: named, proportionate, spread, not_worse or unknown; ``lead``: the segment named."""

    kind: str
    sentence: str
    lead: dict | None = None


def dimension_word(dimension: str, form: int, lang: str) -> str:
    """A dimension as a sentence says it: 0 singular, 1 plural (Chinese has one form)."""
    words = DIMENSION_WORDS.get(dimension)
    if words is None:
        name = dimension.removeprefix("attr:")
        return name if form == 0 or lang == "zh" else f"{name} values"
    return words[2] if lang == "zh" else words[form]


def place_name(dimension: str, segment: str, lang: str = "en") -> str:
    """A segment with its dimension: "channel email", "渠道 email"; the whole organisation as such."""
    if dimension == "overall":
        return "整个组织" if lang == "zh" else "the whole organisation"
    return f"{dimension_word(dimension, 0, lang)} {segment}"


def metric_sides(metric_name: str) -> tuple[str, str, bool]:
    """The metric's kind as the radar scans it, its display format, and whether its bad share is one minus it."""
    try:
        spec = scanned_metric(metric_name)
    except KeyError:
        spec = {"kind": "proportion", "bad": "numerator"}
    return spec["kind"], metric(metric_name).format, spec.get("bad") == "complement"


def shown(value: float | None, metric_name: str) -> str:
    """A contributor's before or during value in the metric's own terms (CSAT, not its unhappy share)."""
    _, fmt, complement = metric_sides(metric_name)
    if value is None:
        return MISSING
    return format_value(1 - value if complement else value, fmt)


def lead_segment(contributors: list[dict]) -> dict | None:
    """The segment that carries the change out of proportion to its size and passes the BH control, if any."""
    margin = rules()["contributors"]["min_excess_share"]
    named = [
        c
        for c in contributors
        if c.get("significant") and c.get("share") is not None and c["share"] - (c.get("weight") or 0.0) >= margin
    ]
    return max(named, key=lambda c: (c["share"] - (c.get("weight") or 0.0), c["share"]), default=None)


def cause(metric_name: str, contributors: list[dict], lang: str = "en") -> Cause:
    """The cause of a crisis in one sentence, from its primary metric and its contributors."""
    words = SENTENCES["zh" if lang == "zh" else "en"]
    if not contributors:
        return Cause("unknown", words["unknown"])
    first = contributors[0]
    before, during = first.get("place_before"), first.get("place_during")
    if before is not None and during is not None and during <= before:
        text = words["not_worse"].format(
            label=label_in_sentence(metric_name, lang),
            before=shown(before, metric_name),
            during=shown(during, metric_name),
        )
        return Cause("not_worse", text)
    lead = lead_segment(contributors)
    dimensions = list(dict.fromkeys(c["dimension"] for c in contributors))
    listed = words["and"].join(dimension_word(d, 1, lang) for d in dimensions)
    if lead is None:
        proportionate = any(c.get("significant") for c in contributors)
        return Cause(
            "proportionate" if proportionate else "spread",
            words["proportionate" if proportionate else "spread"].format(dimensions=listed),
        )
    return Cause("named", named_sentence(metric_name, lead, contributors, lang), lead)


def named_sentence(metric_name: str, lead: dict, contributors: list[dict], lang: str) -> str:
    """The sentence naming the lead segment, its share, its values before and during, and its dimension's others."""
    words = SENTENCES["zh" if lang == "zh" else "en"]
    kind, _, complement = metric_sides(metric_name)
    dimension = lead["dimension"]
    singular, plural = dimension_word(dimension, 0, lang), dimension_word(dimension, 1, lang)
    others = [
        c["segment"]
        for c in contributors
        if c["dimension"] == dimension and c.get("significant") and c is not lead and (c.get("share") or 0) > 0
    ]
    count = max(int(lead.get("significant_in_dimension") or 0) - 1, len(others))
    template = "others_named" if others else "others"
    rest = (
        words[template].format(count=count, plural=singular if count == 1 else plural, names=words["and"].join(others))
        if count
        else words["alone"].format(singular=singular)
    )
    place = place_name(dimension, lead["segment"], lang)
    return words["named"].format(
        place=place[:1].upper() + place[1:],
        share=format_value(min(lead["share"], 1.0), "percent"),
        change=words["fall" if complement else "rise"],
        label=label_in_sentence(metric_name, lang),
        side=words[{"volume": "side_count", "level": "side_level"}.get(kind, "side_rate")],
        before=shown(lead.get("before"), metric_name),
        during=shown(lead.get("during"), metric_name),
        weight=format_value(lead.get("weight"), "percent"),
        over=words["over"].format(plural=plural) if lead["share"] > 1.0 else "",
        others=rest,
    )


def label_in_sentence(metric_name: str, lang: str) -> str:
    """The metric's label inside a sentence: lower case in English unless it is an acronym (CSAT, NPS)."""
    label = metric(metric_name).display_label(lang)
    if lang == "zh" or label.split(" ")[0].isupper():
        return label
    return label[:1].lower() + label[1:]


def share_text(share: float | None, place_worse: bool, lang: str = "en") -> str:
    """A segment's share of the change as people read it: never a negative share, never one of no change."""
    if share is None or not place_worse:
        return MISSING
    if share < 0:
        return SENTENCES[lang]["against"]
    return format_value(share, "percent")


def numbers_behind(metric_name: str, contributors: list[dict], lang: str = "en") -> pl.DataFrame:
    """The contributors as a table in plain words and units, one row per segment (English headers).

    Values are in the metric's own terms (CSAT, not its unhappy share), so for a metric whose bad
    share is one minus it the own change and the change of mix are shown with the metric's sign.
    """
    lang = "zh" if lang == "zh" else "en"
    words = SENTENCES[lang]
    kind, fmt, complement = metric_sides(metric_name)
    unit = {"percent": "points", "minutes": "minutes", "count": "count"}.get(fmt, "units")
    sides = {"volume": ("Expected count", "Count during"), "level": ("Level before", "Level during")}
    before_header, during_header = sides.get(kind, ("Rate before", "Rate during"))
    sign = -1.0 if complement else 1.0
    rows = []
    for c in contributors:
        worse = c.get("place_before") is None or (c.get("place_during") or 0.0) > (c.get("place_before") or 0.0)
        rows.append(
            {
                "Segment": place_name(c["dimension"], c["segment"], lang),
                "Share of the change": share_text(c.get("share"), worse, lang),
                before_header: shown(c.get("before"), metric_name),
                during_header: shown(c.get("during"), metric_name),
                f"Own change ({unit})": format_change(sign * c["rate_effect"], fmt),
                f"Change of mix ({unit})": format_change(sign * c["mix_effect"], fmt),
                "Share of the records": format_value(c.get("weight"), "percent"),
                "Adjusted p (BH)": format_p_value(c["q_value"]) if c.get("tested", True) else words["untested"],
                "Beyond noise": words["yes" if c.get("significant") else "no"],
            }
        )
    return pl.DataFrame(rows) if rows else pl.DataFrame()
