"""A crisis's story: its cause in one sentence, the numbers behind in plain words, and what customers say."""

from __future__ import annotations

import math
import re
from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from metrics.crises.causes import cause, numbers_behind
from metrics.crises.contributors import COLUMNS, SIDES, ranked
from metrics.crises.words import PRIOR_STRENGTH, log_odds, terms_of, what_customers_say, z_scores
from metrics.kpis.settings import load_settings
from pipelines.ingest import ingest_file
from tests.conftest import write


def contributor(dimension, segment, share, weight, q, significant, before=0.021, during=0.064, **extra):
    return {
        "dimension": dimension,
        "segment": segment,
        "contribution": 0.01 * share,
        "share": share,
        "rate_effect": 0.01 * share,
        "mix_effect": 0.0,
        "weight": weight,
        "q_value": q,
        "significant": significant,
        "tested": True,
        "before": before,
        "during": during,
        "place_before": 0.03,
        "place_during": 0.05,
        "significant_in_dimension": extra.pop("in_dimension", 1 if significant else 0),
        **extra,
    }


PHONE_LEADS = [
    contributor("channel", "phone", 0.58, 0.25, 0.0004, True),
    contributor("team", "Billing", 0.40, 0.30, 0.20, False),
    contributor("customer_tier", "standard", 0.91, 0.90, 0.0001, True),
]


def test_the_sentence_names_the_one_segment_that_passes_the_test_and_carries_the_change():
    found = cause("complaint_rate", PHONE_LEADS)
    assert found.kind == "named"
    assert found.sentence == (
        "Channel phone carries 58.0% of the rise in complaint rate (its rate went from 2.1% to 6.4%, "
        "with 25.0% of the records); no other channel changed beyond noise."
    )


def test_a_segment_as_large_as_the_place_is_not_named_as_its_cause():
    # Standard customers hold 90% of the tickets and 91% of the change: that is the place, not a cause.
    found = cause("complaint_rate", [PHONE_LEADS[2]])
    assert found.kind == "proportionate"
    assert found.sentence.startswith("No single segment explains it")


def test_when_no_segment_passes_the_test_none_is_named():
    spread = [
        contributor("channel", "phone", 0.58, 0.25, 0.09, False),
        contributor("region", "North", 0.30, 0.10, 0.31, False),
    ]
    found = cause("complaint_rate", spread)
    assert found.kind == "spread"
    assert found.lead is None
    assert found.sentence == (
        "No single segment explains it: the change is spread across channels and regions, none beyond noise."
    )
    assert "phone" not in found.sentence


def test_the_sentence_in_chinese_and_for_a_metric_whose_bad_share_is_one_minus_it():
    found = cause("csat", PHONE_LEADS, lang="zh")
    # CSAT is shown as CSAT (97.9% → 93.6%), not as its unhappy share (2.1% → 6.4%).
    assert found.sentence == (
        "渠道 phone承担了客户满意度下降的 58.0%（其比率由 97.9% 变为 93.6%，记录占比 25.0%）；"
        "其他渠道的变化均在噪声范围内。"
    )


def test_a_place_that_did_not_worsen_against_the_periods_before_says_so_instead_of_negative_shares():
    calm = [contributor("channel", "phone", -2.69, 0.26, 1.0, False, place_before=0.025, place_during=0.023)]
    assert cause("communication_complaint_rate", calm).kind == "not_worse"
    table = numbers_behind("communication_complaint_rate", calm)
    assert table["Share of the change"].to_list() == ["–"]


def test_the_numbers_behind_are_in_plain_words_and_units():
    rows = [
        *PHONE_LEADS,
        contributor("agent", "Zoe", -0.2, 0.03, 1.0, False, tested=False, place_before=0.03, place_during=0.05),
    ]
    table = numbers_behind("complaint_rate", rows)
    assert table.columns == [
        "Segment", "Share of the change", "Rate before", "Rate during", "Own change (points)",
        "Change of mix (points)", "Share of the records", "Adjusted p (BH)", "Beyond noise",
    ]  # fmt: skip
    phone = table.row(0, named=True)
    assert phone["Segment"] == "channel phone"
    assert phone["Share of the change"] == "58.0%"
    assert (phone["Rate before"], phone["Rate during"]) == ("2.1%", "6.4%")
    assert phone["Own change (points)"] == "+0.6 pts"
    assert phone["Adjusted p (BH)"] == "< 0.001"
    zoe = table.row(3, named=True)
    assert zoe["Share of the change"] == "against the change"
    assert zoe["Adjusted p (BH)"] == "too few to test"


def test_segments_too_small_to_test_do_not_dilute_the_adjusted_p_of_the_one_that_changed():
    # One channel with 120 events and p = 0.001, fifty agents with two events each and p = 0.5:
    # over all 51, BH would give the channel q = 0.051 and name nothing.
    base = {"contribution": 0.01, "rate_effect": 0.01, "mix_effect": 0.0, "weight": 0.1}
    sides = dict.fromkeys(SIDES, 0.1)
    rows = [{"dimension": "channel", "segment": "phone", **base, "p_value": 0.001, **sides, "events": 120.0}]
    rows += [
        {
            "dimension": "agent",
            "segment": f"A{i}",
            **base,
            "contribution": 0.001,
            "p_value": 0.5,
            **sides,
            "events": 2.0,
        }
        for i in range(50)
    ]
    found = ranked([pl.DataFrame(rows).select("dimension", "segment", *COLUMNS, *SIDES)], limit=60)
    phone = next(c for c in found if c.segment == "phone")
    assert phone.q_value == pytest.approx(0.001)
    assert phone.significant and phone.tested
    assert not any(c.tested or c.significant for c in found if c.dimension == "agent")


def test_log_odds_by_hand_and_a_rare_word_that_rose_outranks_a_common_word_that_did_not():
    # "refund": 6 of the window's terms and none before; "agent": 30 and 120 (a steady share).
    counts = pl.DataFrame({"term": ["refund", "agent", "other"], "during": [6, 30, 64], "before": [0, 120, 280]})
    scored = log_odds(counts, prior_strength=100.0)
    n_during, n_before, pooled = 100.0, 400.0, 500.0
    alpha = 100.0 * 6 / pooled
    delta = math.log((6 + alpha) / (n_during + 100 - 6 - alpha)) - math.log(alpha / (n_before + 100 - alpha))
    z = delta / math.sqrt(1 / (6 + alpha) + 1 / alpha)
    assert scored.filter(pl.col("term") == "refund")["z"][0] == pytest.approx(z)
    ranks = scored.sort("z", descending=True)["term"].to_list()
    assert ranks[0] == "refund"
    assert abs(scored.filter(pl.col("term") == "agent")["z"][0]) < 1


def test_the_prior_keeps_a_word_seen_once_below_a_word_that_rose_in_many_comments():
    # Seen once in the window and never before, against 20 in the window and 10 before (of 200 and 800).
    during, before = np.array([1, 20, 179]), np.array([0, 10, 790])
    # A naive ratio of shares (with half a count added) puts the word seen once first ...
    naive = np.log((during + 0.5) / during.sum()) - np.log((before + 0.5) / before.sum())
    assert naive[0] > naive[1]
    # ... the informative prior does not; and the prior matters: the stronger it is, the more it
    # shrinks even a real rise towards the pooled rate.
    z = z_scores(during, before, PRIOR_STRENGTH)
    assert z[1] > z[0]
    assert z_scores(during, before, 500.0)[1] < z_scores(during, before, 10.0)[1]


def test_words_drop_stop_words_numbers_ids_and_masked_data_and_keep_phrases():
    comments = pl.DataFrame(
        {
            "doc": [0, 1],
            "text": [
                "The refund for order 12345 was NOT paid, ticket ABC123",
                "退款申请一直没有处理，j***@x.com [email] [phone]",
            ],
        }
    ).with_columns(pl.col("doc").cast(pl.UInt32))
    terms = set(terms_of(comments)["term"].to_list())
    assert {"refund", "paid", "退款", "处理", "退款申请"} <= terms
    assert not terms & {"the", "for", "12345", "abc123", "was", "一直", "没有", "email", "phone"}
    assert not [t for t in terms if "*" in t or "@" in t or "x.com" in t]


@pytest.fixture(scope="module")
def masked_warehouse(tmp_path_factory):
    """Complaints of one channel: a quarter of delivery comments, then a week of refund ones naming a customer."""
    from pipelines.warehouse.store import connect

    folder = tmp_path_factory.mktemp("story")
    con = connect(folder / "w.duckdb")
    rows = ["complaint_id,created_at,channel,text"]
    start = date(2026, 3, 2)
    for day in range(91):
        when = start - timedelta(days=91 - day)
        rows.append(f"B{day},{when} 10:00,phone,The delivery was late again")
        rows.append(f"E{day},{when} 11:00,email,Billing question about my plan")
    for i in range(7):
        when = start + timedelta(days=i)
        rows.append(
            f"R{i},{when} 09:0{i},phone,Refund never arrived - call me on +1 415 555 01{i}9 or jane.doe@example.com"
        )
    ingest_file(con, write(folder / "c.csv", "\n".join(rows) + "\n"), "complaints", source_tz="UTC")
    yield con
    con.close()


def test_rising_words_of_a_place_with_examples_masked_for_personal_data(masked_warehouse):
    said = what_customers_say(masked_warehouse, load_settings(), [("channel", "phone")], date(2026, 3, 2),
                              date(2026, 3, 8))  # fmt: skip
    assert said.comments_during == 7 and said.comments_before == 91
    terms = said.terms["term"].to_list()
    assert "refund" in terms or "refund never" in terms
    assert "delivery" not in terms and "billing" not in terms  # email's words are not this place's
    examples = said.examples["text"].to_list()
    assert len(said.examples.filter(pl.col("term") == terms[0])) == 3
    assert all("jane.doe@" not in e and "555 01" not in e for e in examples)
    assert all("j***@example.com" in e for e in examples)
    # Most recent first.
    first = said.examples.filter(pl.col("term") == terms[0])["written_at"].to_list()
    assert first == sorted(first, reverse=True)


def test_no_comments_in_a_place_reads_as_none_not_as_an_empty_list(masked_warehouse):
    said = what_customers_say(masked_warehouse, load_settings(), [("channel", "chat")], date(2026, 3, 2),
                              date(2026, 3, 8))  # fmt: skip
    assert said.comments_during == 0 and said.terms.is_empty()


@pytest.mark.real
def test_real_chinese_complaints_are_segmented_and_show_the_words_that_rose(con, real_dir):
    """The car complaints of 2020-06-08 (Beijing time, 2020-06-07 16:00 UTC) against the three days before."""
    ingest_file(con, real_dir / "chinese-car-complaints-gbk" / "car_complain_gbk.csv", "complaints",
                source_tz="Asia/Shanghai")  # fmt: skip
    said = what_customers_say(con, load_settings(), [], date(2020, 6, 7), date(2020, 6, 7))
    assert (said.comments_during, said.comments_before) == (153, 447)
    terms = said.terms["term"].to_list()
    assert "天窗异响" in terms  # "sunroof noise": whole words of the segmenter, joined as a phrase
    assert all(len(t) >= 2 and " " not in t for t in terms)
    sunroof = said.examples.filter(pl.col("term") == "天窗异响")["text"].to_list()
    assert len(sunroof) == 3 and all("天窗异响" in text for text in sunroof)


@pytest.mark.real
def test_real_english_complaints_show_what_the_june_burst_was_about(con, real_dir):
    ingest_file(con, real_dir / "comcast-fcc-complaints-2015" / "Comcast_telecom_complaints_data.csv", "complaints",
                source_tz="UTC")  # fmt: skip
    said = what_customers_say(con, load_settings(), [], date(2015, 6, 1), date(2015, 6, 30))
    terms = said.terms["term"].to_list()
    assert {"unfair billing", "throttling"} <= set(terms) or {"billing practices", "throttling"} <= set(terms)
    assert not {"comcast", "the", "and"} & set(terms)
    for term in terms:
        assert 1 <= len(said.examples.filter(pl.col("term") == term)) <= 3


def test_the_quarterly_review_lists_each_crisis_with_its_cause_in_words(demo):
    import json

    from metrics.crises.log import list_crises
    from metrics.reports.review import quarterly_review
    from pipelines.warehouse.store import connect_for_reading

    con = connect_for_reading(str(demo[0]))
    try:
        report = quarterly_review(con, "2026Q3")
        log = list_crises(con)
    finally:
        con.close()
    assert not report.crises.is_empty()
    stored = {r["crisis_id"]: json.loads(r["contributors"] or "[]") for r in log.iter_rows(named=True)}
    for row in report.crises.iter_rows(named=True):
        sentence = row["cause"]
        assert sentence.endswith(".")
        if sentence.startswith("No single segment"):
            continue
        # A named segment passed the BH control, and its share reads as a percent (58.8%, not 0.588).
        named = [c for c in stored[row["id"]] if c.get("significant") and f" {c['segment']} carries " in sentence]
        assert named, sentence
        assert re.search(r" carries \d{1,3}\.\d% of the (rise|fall) in ", sentence), sentence


def test_the_crises_command_gives_each_crisis_its_cause_in_words(demo, tmp_path):
    import json
    import shutil

    from tests.conftest import run_cli

    db = shutil.copy(demo[0], tmp_path / "cli.duckdb")
    listed = run_cli("crises", "--db", str(db), "--since", "2026-07-01", "--json")
    assert listed.returncode == 0, listed.stderr
    records = json.loads(listed.stdout)
    assert records
    for record in records:
        assert record["cause"] == cause(record["metric"], record["contributors"]).sentence
    text = run_cli("crises", "--db", str(db), "--since", "2026-07-01").stdout
    assert all(f"      {r['cause']}" in text for r in records)


def test_many_comments_are_sampled_and_the_result_says_so(masked_warehouse, monkeypatch):
    from metrics.crises import words

    monkeypatch.setattr(words, "MAX_COMMENTS", 40)
    said = what_customers_say(masked_warehouse, load_settings(), [("channel", "phone")], date(2026, 3, 2),
                              date(2026, 3, 8))  # fmt: skip
    assert said.sampled and said.comments_before == 40 and said.comments_during == 7
    assert said.notes == ["More than 40 comments on a side: a random sample of 40 was read."]
