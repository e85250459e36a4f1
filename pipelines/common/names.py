"""User names: the one normal form they are stored and looked up in, and safe display of any name.

A name is NFKC-normalised, trimmed and lower-cased (so a fullwidth 'ａｄｍｉｎ' or 'Admin' is the
user 'admin', and an e-mail address matches whatever case the identity provider sends), then
must be letters and digits of any script (with their combining marks) and ``. _ - @ +``,
start with a letter or digit, and be at most MAX_NAME_LENGTH characters. That leaves out
every character that could hide (zero-width, direction overrides), move the terminal (ANSI
escapes) or format a page (markdown, HTML).

Names written by an older version, crisis owners and whatever someone typed into the sign-in
form are not held to these rules, so everything that shows such text goes through
``printable`` (terminals, tables) or ``markdown_text`` (st.markdown, st.caption, st.error).
"""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl

MAX_NAME_LENGTH = 128
NAME_PUNCTUATION = frozenset("._-@+")
ALLOWED_NAME_CHARACTERS = "letters and digits of any script and . _ - @ +"

# Default-ignorable code points that Unicode files under marks or letters rather than format
# characters: they draw nothing, so 'admin' followed by one looks exactly like 'admin'.
_INVISIBLE = frozenset(
    [0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x3164, 0xFFA0, *range(0x180B, 0x1810), *range(0xFE00, 0xFE10)]
) | frozenset(range(0xE0100, 0xE01F0))
# The marks that can start emphasis, code, a link or image, an autolink (www.x.org, a@b.org), HTML or
# an entity, a heading or list, strikethrough, maths, or a Streamlit directive (:red[...],
# :material/...:). Prose marks (, ; ? ' " ( ) / %) and a colon before a space are left as they are,
# so a message reads the same.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#+\-.!|~$&@]|:(?=\S))")
# Bare links (www.x.org, http://x.org, a@b.org) and shortcodes (:smile:, :material/star:) are found in
# the parsed text, after the escapes are gone; an invisible word joiner splits what sets them off.
_TEXT_TRIGGERS = re.compile(r"(?i)(?<=www)(?=\\\.)|(?=\\@)|(?<=\\:)")


def canonical(text: str) -> str:
    """The form a name is stored and looked up in: NFKC, trimmed, lower case. Not yet checked."""
    folded = unicodedata.normalize("NFKC", text).strip().lower()
    return unicodedata.normalize("NFKC", folded)  # lower() can undo the normal form (e.g. 'İ')


def _allowed(character: str) -> bool:
    if ord(character) in _INVISIBLE:
        return False
    category = unicodedata.category(character)
    return category[0] in "LM" or category == "Nd" or character in NAME_PUNCTUATION


def name_problem(name: str) -> str | None:
    """Why ``name`` (already ``canonical``) cannot be a user name, in one line; None when it can."""
    rules = (
        f"a name is {ALLOWED_NAME_CHARACTERS}, starts with a letter or digit, "
        f"and has at most {MAX_NAME_LENGTH} characters"
    )
    if not name:
        return f"a user name cannot be empty: {rules}"
    if len(name) > MAX_NAME_LENGTH:
        return f"user name {printable(name[:20])}… has {len(name)} characters: {rules}"
    refused = next((ch for ch in name if not _allowed(ch)), None)
    if refused is not None:
        what = f"U+{ord(refused):04X} ({unicodedata.name(refused, 'a control character')})"
        return f"user name '{printable(name)}' has {what}, which is not allowed: {rules}"
    if unicodedata.category(name[0]) in ("Mn", "Mc", "Me") or name[0] in NAME_PUNCTUATION:
        return f"user name '{printable(name)}' does not start with a letter or digit: {rules}"
    return None


def _escape(character: str) -> str:
    code = ord(character)
    if character == "\\":
        return "\\\\"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def printable(text: str) -> str:
    """``text`` with every character that does not print (control, format, direction, line and
    paragraph separators, any space but ' ', the invisible marks) and the backslash written as
    a Python-style escape, so no name can colour or clear a terminal or pass for another."""
    if text.isprintable() and "\\" not in text and not _INVISIBLE.intersection(map(ord, text)):
        return text
    return "".join(_escape(ch) if ch == "\\" or not ch.isprintable() or ord(ch) in _INVISIBLE else ch for ch in text)


def markdown_text(text: str) -> str:
    """``printable(text)`` with every markdown-active mark backslash-escaped, for Streamlit's
    markdown (st.markdown, st.caption, st.error, ...): shown as typed, never as bold, a link,
    a colour directive, an emoji or HTML."""
    return _TEXT_TRIGGERS.sub("\u2060", _MARKDOWN_SPECIAL.sub(r"\\\1", printable(text)))


def printable_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with ``printable`` applied to every text column, for a terminal or a table."""
    import polars as pl

    changes = {}
    for column, dtype in frame.schema.items():
        if dtype == pl.String:
            # Escaping is per character, so it runs once per distinct value, not per row.
            distinct = frame[column].drop_nulls().unique().to_list()
            mapping = {value: shown for value in distinct if (shown := printable(value)) != value}
            if mapping:
                changes[column] = pl.col(column).replace(mapping)
    return frame.with_columns(**changes) if changes else frame


def frame_text(frame: pl.DataFrame, csv: bool = False) -> str:
    """``frame`` for a terminal, as CSV or a table, with ``printable`` applied to every text cell."""
    shown = printable_frame(frame)
    if csv:
        return shown.write_csv()
    import polars as pl

    # Every row and every character: an administrator reading users or the audit log must not
    # miss the one row polars would fold into "…", nor the end of a long detail.
    with pl.Config(tbl_rows=-1, tbl_cols=-1, fmt_str_lengths=10_000, tbl_width_chars=10_000):
        return str(shown)
