"""Personal data in exports: customer names, e-mail addresses and phone numbers.

Masked wherever the interface shows or downloads a table (``mask``), by column name for whole
values and by pattern inside any text, JSON records included. With
``CSAT_RADAR_PERSONAL_DATA_SALT`` set and ``CSAT_RADAR_HASH_PERSONAL_DATA=1``, the same values
are replaced at ingest (``pseudonymise``) before anything is stored: whole values by a salted
SHA-256 (so one customer's tickets still group together), addresses and numbers inside free
text by a placeholder.
"""

from __future__ import annotations

import os
import re

import duckdb
import polars as pl

HASH_ENV, SALT_ENV = "CSAT_RADAR_HASH_PERSONAL_DATA", "CSAT_RADAR_PERSONAL_DATA_SALT"
# Column names (lower case, spaces and dashes as underscores) whose whole value is personal.
NAME_COLUMNS = frozenset(
    [
        "name",
        "customer_name",
        "customer",
        "requester",
        "requester_name",
        "contact",
        "contact_name",
        "full_name",
        "first_name",
        "last_name",
        "complainant",
        "complainant_name",
        "submitter",
        "submitter_name",
        "姓名",
        "客户姓名",
        "客户",
        "联系人",
        "投诉人",
    ]
)
EMAIL_COLUMNS = frozenset(
    ["email", "e_mail", "mail", "email_address", "requester_email", "customer_email", "邮箱", "电子邮件"]
)
PHONE_COLUMNS = frozenset(
    [
        "phone",
        "phone_number",
        "telephone",
        "tel",
        "mobile",
        "mobile_phone",
        "cell",
        "contact_number",
        "电话",
        "手机",
        "联系电话",
        "手机号",
    ]
)
PERSONAL_COLUMNS = NAME_COLUMNS | EMAIL_COLUMNS | PHONE_COLUMNS
EMAIL = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
# International or grouped numbers of at least nine digits, and Chinese mobile numbers; dates,
# times and ticket numbers do not have this shape.
PHONE = r"(?:\+\d{1,3}[ -]?)?(?:\(\d{2,4}\)[ -]?|\b\d{2,4}[ -])\d{3,4}[ -]?\d{2}(\d{2})\b|\b1[3-9]\d{7}(\d{2})\b"
# Headers as exported: "Customer Name", "customer-name" and "customer_name" alike.
_JSON_KEYS = "|".join(re.escape(k).replace("_", "[ _-]") for k in sorted(PERSONAL_COLUMNS, key=len, reverse=True))
# "key": "value" inside a JSON record, for the personal keys, whatever their case.
JSON_PERSONAL = rf'(?i)("(?:{_JSON_KEYS})"\s*:\s*)"(?:[^"\\]|\\.)*"'


def canonical_header(header: str) -> str:
    return re.sub(r"[\s\-]+", "_", header.strip().lower())


def personal_columns(columns: list[str]) -> list[str]:
    """The columns whose whole value is a name, an e-mail address or a phone number."""
    return [c for c in columns if canonical_header(c) in PERSONAL_COLUMNS]


def _masked_text(column: pl.Expr) -> pl.Expr:
    return (
        column.str.replace_all(JSON_PERSONAL, r'${1}"***"')
        .str.replace_all(r"([A-Za-z0-9])[A-Za-z0-9._%+-]*@", r"${1}***@")
        .str.replace_all(PHONE, r"***${1}${2}")
    )


def mask(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame as the interface may show it: personal values masked; a new frame, same shape."""
    whole = set(personal_columns(frame.columns))
    text = [c for c, dtype in frame.schema.items() if dtype == pl.String]
    return frame.with_columns(
        *[
            (pl.col(c).str.slice(0, 1) + pl.lit("***")).alias(c)
            if c in whole and canonical_header(c) in NAME_COLUMNS
            else _masked_text(pl.col(c)).alias(c)
            for c in text
        ]
    )


def hashing_salt() -> str | None:
    """The salt to pseudonymise with at ingest, or None when hashing is off.

    A salt is required: unsalted hashes of phone numbers can be reversed by trying them all.
    """
    if os.environ.get(HASH_ENV, "").strip().lower() not in ("1", "true", "yes", "on"):
        return None
    salt = os.environ.get(SALT_ENV, "")
    if len(salt) < 16:
        raise ValueError(f"{HASH_ENV} is on: set {SALT_ENV} to a secret of at least 16 characters")
    return salt


def pseudonymise(frame: pl.DataFrame, columns: list[str], salt: str) -> pl.DataFrame:
    """``columns`` of text as they may be stored; a new frame.

    A personal column's values, and any value that is wholly an e-mail address or a phone
    number (a customer id that is an address, say), become ``h:`` and a salted SHA-256 prefix,
    the same for the same value; addresses and numbers inside other text become placeholders.
    """
    text = [c for c in columns if frame.schema[c] == pl.String]
    if not text:
        return frame
    whole = set(personal_columns(text))
    hashed = "'h:' || left(sha256($salt || lower(trim({q}))), 16)"
    scrubbed = (
        "regexp_replace(regexp_replace(regexp_replace({q}, $json, '\\1\"[removed]\"', 'g'), "
        "$email, '[email]', 'g'), $phone, '[phone]', 'g')"
    )
    expressions = []
    for column in text:
        q = '"' + column.replace('"', '""') + '"'
        if column in whole:
            value = f"CASE WHEN coalesce({q}, '') = '' THEN {q} ELSE {hashed.format(q=q)} END"
        else:
            value = (
                f"CASE WHEN regexp_full_match(trim({q}), $email) OR regexp_full_match(trim({q}), $phone) "
                f"THEN {hashed.format(q=q)} ELSE {scrubbed.format(q=q)} END"
            )
        expressions.append(f"{value} AS {q}")
    con = duckdb.connect()
    try:
        con.register("incoming", frame.select(text))
        replaced = con.sql(
            f"SELECT {', '.join(expressions)} FROM incoming",
            params={"salt": salt, "json": JSON_PERSONAL, "email": EMAIL, "phone": PHONE},
        ).pl()
    finally:
        con.close()
    return frame.with_columns(*[replaced[c] for c in text])
