"""Personal data in exports: customer names, e-mail addresses and phone numbers.

Masked wherever the interface shows or downloads a table (``mask``), by column name for whole
values and by pattern inside any text, JSON records included. With
``CSAT_RADAR_PERSONAL_DATA_SALT`` set and ``CSAT_RADAR_HASH_PERSONAL_DATA=1``, the same values
are replaced at ingest (``pseudonymise``) before anything is stored: whole values by a salted
SHA-256 (so one customer's tickets still group together), addresses and numbers inside free
text by a placeholder. A record not as wide as its header (a JSON list of fields that no header
names) is masked or hashed field by field: every field that could be personal, as a name.
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
_JSON_STRING = r'"(?:[^"\\\x00-\x1f]|\\(?:["\\/bfnrt]|u[0-9A-Fa-f]{4}))*"'
# A record not as wide as its header, as read: a JSON list of its fields, which no header names.
# Exactly JSON's grammar for a list of strings, so that every value matched can be decoded.
JSON_LIST = (
    rf"^[ \t\r\n]*\[[ \t\r\n]*(?:{_JSON_STRING}(?:[ \t\r\n]*,[ \t\r\n]*{_JSON_STRING})*)?[ \t\r\n]*\][ \t\r\n]*$"
)
# Fields of such a record that cannot be a person's data, so stay readable: empty, a number of
# at most six digits (a phone number has more), a date or a time, yes or no. Anything else,
# words or free text, may be a name. [0-9] rather than \d: Polars' and DuckDB's \d differ.
_DATE = (
    r"[0-9]{4}[-/.][0-9]{1,2}[-/.][0-9]{1,2}|[0-9]{1,2}[-/.][0-9]{1,2}[-/.][0-9]{2,4}"
    r"|[0-9]{4}年[0-9]{1,2}月[0-9]{1,2}日"
)
_TIME = r"[0-9]{1,2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?(?: ?[ap]m)?(?:z|[+-][0-9]{2}:?[0-9]{2})?"
PLAIN_FIELD = (
    r"(?i)^[ \t\r\n]*(?:[+-]?[0-9]{1,6}(?:[.,][0-9]{1,3})?%?"
    rf"|(?:{_DATE})(?:[ T]?{_TIME})?|{_TIME}|true|false|yes|no|是|否)?[ \t\r\n]*$"
)


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


def _masked_name(value: pl.Expr) -> pl.Expr:
    return value.str.slice(0, 1) + pl.lit("***")


def _masked_record_or_text(column: pl.Expr) -> pl.Expr:
    """A JSON list of fields with each field that may be personal masked as a name; other text as text."""
    is_record = column.str.contains(JSON_LIST)
    fields = pl.when(is_record).then(column).str.json_decode(pl.List(pl.String))
    field = pl.element()
    masked = fields.list.eval(pl.when(field.str.contains(PLAIN_FIELD)).then(field).otherwise(_masked_name(field)))
    # Polars encodes a list as JSON only inside a struct: {"f":[...]} less the key is the list.
    encoded = pl.struct(masked.alias("f")).struct.json_encode().str.slice(5).str.strip_suffix("}")
    return pl.when(is_record).then(encoded).otherwise(_masked_text(column))


def mask(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame as the interface may show it: personal values masked; a new frame, same shape.

    A record not as wide as its header (a JSON list of its fields) has each field that may be a
    name, an address or a number masked as a name is: nothing says which field is which.
    """
    whole = set(personal_columns(frame.columns))
    text = [c for c, dtype in frame.schema.items() if dtype == pl.String]
    return frame.with_columns(
        *[
            _masked_name(pl.col(c)).alias(c)
            if c in whole and canonical_header(c) in NAME_COLUMNS
            else _masked_record_or_text(pl.col(c)).alias(c)
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


_HASHED = "'h:' || left(sha256($salt || lower(trim({q}))), 16)"
_TEXT_PATTERNS = {"json": JSON_PERSONAL, "email": EMAIL, "phone": PHONE}
_SCRUBBED = (
    "regexp_replace(regexp_replace(regexp_replace({q}, $json, '\\1\"[removed]\"', 'g'), "
    "$email, '[email]', 'g'), $phone, '[phone]', 'g')"
)


def _pseudonymised_text(q: str) -> str:
    """SQL for a text that is not wholly personal: hashed if it is an address or a number, else scrubbed."""
    return (
        f"CASE WHEN regexp_full_match(trim({q}), $email) OR regexp_full_match(trim({q}), $phone) "
        f"THEN {_HASHED.format(q=q)} ELSE {_SCRUBBED.format(q=q)} END"
    )


def _quoted(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def _replaced(frame: pl.DataFrame, values: dict[str, str], params: dict[str, str]) -> pl.DataFrame:
    """``frame`` with each column of ``values`` replaced by its SQL expression's result.

    ``params`` are exactly the ones the expressions use: DuckDB refuses any other.
    """
    con = duckdb.connect()
    try:
        con.register("incoming", frame.select(list(values)))
        replaced = con.sql(
            f"SELECT {', '.join(f'{v} AS {_quoted(c)}' for c, v in values.items())} FROM incoming", params=params
        ).pl()
    finally:
        con.close()
    return frame.with_columns(*[replaced[c] for c in values])


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
    values = {}
    for column in text:
        q = _quoted(column)
        values[column] = (
            f"CASE WHEN coalesce({q}, '') = '' THEN {q} ELSE {_HASHED.format(q=q)} END"
            if column in whole
            else _pseudonymised_text(q)
        )
    patterns = _TEXT_PATTERNS if whole != set(text) else {}
    return _replaced(frame, values, {"salt": salt, **patterns})


def pseudonymise_records(frame: pl.DataFrame, columns: list[str], salt: str) -> pl.DataFrame:
    """``columns`` of source records as JSON, as they may be stored; a new frame.

    A record not as wide as its header (a JSON list of its fields) says nothing about which field
    is the name, and its fields may be shifted: each field that is not plainly non-personal
    (``PLAIN_FIELD``) is hashed as a personal column's value is, so a customer's hash is the
    one on their good rows. Other records are pseudonymised as other text is.
    """
    text = [c for c in columns if frame.schema[c] == pl.String]
    if not text:
        return frame
    values = {}
    for column in text:
        q = _quoted(column)
        fields = f"from_json({q}, '[\"VARCHAR\"]')"
        hashed = (
            f"lambda field: CASE WHEN regexp_full_match(field, $plain) THEN field ELSE {_HASHED.format(q='field')} END"
        )
        values[column] = (
            f"CASE WHEN regexp_full_match({q}, $json_list) THEN to_json(list_transform({fields}, {hashed}))::VARCHAR "
            f"ELSE {_pseudonymised_text(q)} END"
        )
    return _replaced(frame, values, {"salt": salt, "json_list": JSON_LIST, "plain": PLAIN_FIELD, **_TEXT_PATTERNS})
