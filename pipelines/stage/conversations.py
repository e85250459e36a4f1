"""Conversation logs (one row per message) turned into tickets: one per thread a customer opens.

Grain in: one row per message, typed. Grain out: one ticket per thread, every message as a
row feeding its thread's ticket, and the messages whose thread cannot be traced, rejected.
"""

from __future__ import annotations

import polars as pl

from pipelines.read.raw import LINE
from pipelines.stage.columns import KEY, ORDER, RAW, REASON, REASON_COLUMN


def conversation_to_tickets(messages: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """A message log → one ticket per customer message that opens a thread.

    The first reply from the company (a non-inbound author) after the opening message gives
    first_response_at. Messages whose thread cannot be traced to a customer's opening
    message in the same file are rejected with the reason.
    """
    links = messages.select(pl.col("message_id"), pl.col("in_reply_to").alias("parent"))
    walk = links.with_columns(pl.col("message_id").alias("root"), pl.col("parent").alias("next"))
    # Follow reply chains upward; each pass is one join, the loop runs once per thread depth.
    for _ in range(200):
        pending = walk.filter(pl.col("next").is_not_null())
        if pending.height == 0:
            break
        step = pending.join(links.rename({"message_id": "next", "parent": "next_parent"}), on="next", how="left")
        resolved_in_file = step["next"].is_in(links["message_id"].implode())
        step = step.with_columns(
            pl.when(resolved_in_file).then(pl.col("next")).otherwise(pl.col("root")).alias("root"),
            pl.when(resolved_in_file).then(pl.col("next_parent")).otherwise(None).alias("next"),
            pl.when(resolved_in_file).then(None).otherwise(pl.col("next")).alias("missing"),
        ).drop("next_parent")
        done = walk.filter(pl.col("next").is_null())
        if "missing" not in done.columns:
            done = done.with_columns(pl.lit(None, dtype=pl.String).alias("missing"))
        walk = pl.concat([done, step.select(done.columns)])
    if "missing" not in walk.columns:
        walk = walk.with_columns(pl.lit(None, dtype=pl.String).alias("missing"))

    tagged = messages.join(walk.select("message_id", "root", "missing"), on="message_id", how="left")
    roots = tagged.filter(pl.col("message_id") == pl.col("root")).select(
        pl.col("root"),
        pl.col("is_inbound").alias("root_inbound"),
        pl.col("in_reply_to").is_null().alias("root_opens"),
        pl.col("created_at").alias("root_created"),
    )
    tagged = tagged.join(roots, on="root", how="left")
    reason = (
        pl.when(pl.col("missing").is_not_null())
        .then(pl.format("reply to message '{}' which is not in this file", pl.col("missing")))
        .when(~pl.col("root_inbound").fill_null(False))
        .then(pl.lit("thread opened by the company, not by a customer"))
    )
    tagged = tagged.with_columns(reason.alias(REASON))
    rejected = tagged.filter(pl.col(REASON).is_not_null()).select(
        LINE, REASON, pl.lit("in_reply_to").alias(REASON_COLUMN)
    )
    kept = tagged.filter(pl.col(REASON).is_null())

    first_reply = (
        kept.filter(~pl.col("is_inbound") & (pl.col("created_at") >= pl.col("root_created")))
        .sort("created_at", LINE)
        .group_by("root")
        .agg(pl.col("created_at").first().alias("first_response_at"), pl.col("author").first().alias("team"))
    )
    replies = kept.filter(~pl.col("is_inbound")).group_by("root").agg(pl.len().cast(pl.Int32).alias("agent_replies"))
    openers = kept.filter(pl.col("message_id") == pl.col("root"))
    tickets = (
        openers.select(
            pl.col("root").alias("ticket_id"),
            pl.col("created_at"),
            pl.col("author").alias("customer_id"),
            *[pl.col(c) for c in ("channel", "attributes") if c in openers.columns],
        )
        .join(first_reply, left_on="ticket_id", right_on="root", how="left")
        .join(replies, left_on="ticket_id", right_on="root", how="left")
        .with_columns(pl.col("agent_replies").fill_null(0), pl.lit(False).alias("is_complaint"))
    )
    # Every message of a thread feeds its ticket: the opener first, then by time.
    rows = kept.with_columns(
        pl.col("root").alias(KEY),
        pl.struct((pl.col("message_id") != pl.col("root")).alias("not_root"), "created_at", LINE)
        .rank("ordinal")
        .over("root")
        .alias(ORDER),
    )
    return rows.select(LINE, KEY, ORDER, RAW), tickets, rejected
