"""Who may do what: users and roles, sign-in, sessions, segment restriction and the audit log.

Sign-in is off by default (one person on their own machine acts as an administrator); with
``CSAT_RADAR_AUTH=password`` the app asks for a name and password checked against salted
argon2id hashes in ``app_users``, and with ``CSAT_RADAR_AUTH=oidc`` it uses Streamlit's
identity-provider sign-in and maps the e-mail onto a user here. Every action that writes goes
through ``perform``, which checks the actor's role on the server and writes the audit log,
whatever the page showed or hid.
"""

from __future__ import annotations

import functools
import getpass
import json
import os
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from pipelines.common import names
from pipelines.common.diskspace import is_disk_full
from pipelines.common.errors import IngestError
from pipelines.common.segments import Segments, as_segments

if TYPE_CHECKING:
    import polars as pl

# polars and argon2 are imported where used: every command line start reads this module.

REGISTRY = tomllib.loads((Path(__file__).parent / "access.toml").read_text(encoding="utf-8"))
AUTH_ENV = "CSAT_RADAR_AUTH"
AUTH_MODES = ("off", "password", "oidc")
IDLE_ENV, LIFETIME_ENV = "CSAT_RADAR_SESSION_IDLE_MINUTES", "CSAT_RADAR_SESSION_HOURS"
DEFAULT_IDLE_MINUTES, DEFAULT_LIFETIME_HOURS = 30.0, 12.0
# Failed sign-ins in a row, within the window, after which a name is locked for the window.
MAX_FAILED_SIGN_INS = 5
FAILED_SIGN_IN_WINDOW = timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 10


class AccessDenied(Exception):
    """An action the actor's role does not allow; ``str(error)`` is the one line shown."""


class AccessError(ValueError):
    """A user-management request that cannot be carried out (unknown role, weak password, ...)."""


@dataclass(frozen=True)
class Actor:
    """Who is acting: a name, a role, and the segments they are limited to (empty = all)."""

    name: str
    role: str
    segments: Segments = ()

    def may(self, permission: str) -> bool:
        return permission in permissions(self.role)


@dataclass(frozen=True)
class Session:
    """A signed-in session: whose, and when it began and was last used."""

    actor: Actor
    started: datetime
    last_seen: datetime = field(default_factory=lambda: datetime.now(UTC))


def roles() -> list[str]:
    """The roles, least to most allowed."""
    return list(REGISTRY["roles"])


def permissions(role: str) -> frozenset[str]:
    """Everything ``role`` may do, with what its included roles may do."""
    entry = REGISTRY["roles"].get(role)
    if entry is None:
        return frozenset()
    inherited = [permissions(r) for r in entry.get("includes", [])]
    return frozenset(entry["permissions"]).union(*inherited)


def actions() -> dict[str, dict]:
    """Every action that writes, with the permission it needs."""
    return REGISTRY["actions"]


def auth_mode() -> str:
    """off (the default), password or oidc, from CSAT_RADAR_AUTH; AccessError for anything else."""
    mode = os.environ.get(AUTH_ENV, "off").strip().lower() or "off"
    if mode not in AUTH_MODES:
        raise AccessError(f"{AUTH_ENV}={mode!r}: use one of {', '.join(AUTH_MODES)}")
    return mode


def local_actor() -> Actor:
    """The person at the machine when sign-in is off, or at the command line: an administrator."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):  # no name for the uid in a bare container
        name = "local"
    return Actor(f"local:{name}", "admin")


def authorize(actor: Actor, action: str) -> None:
    """AccessDenied unless ``actor``'s role grants what ``action`` needs, and their segments allow it.

    An action marked ``whole_organisation`` (loading an export, undoing a load) writes rows of
    every segment a file holds, and its counts tell which ids exist: a limited actor may not.
    """
    entry = actions().get(action)
    if entry is None:
        raise AccessDenied(f"unknown action {action!r}")
    if not actor.may(entry["permission"]):
        raise AccessDenied(f"{actor.name} ({actor.role}) may not {entry['description']}; ask an administrator")
    if actor.segments and entry.get("whole_organisation"):
        raise AccessDenied(
            f"{actor.name} may not {entry['description']}: it writes rows of every segment, "
            "and they are limited to some; ask an administrator"
        )


def allowed(actor: Actor, action: str) -> bool:
    """Whether ``authorize`` would let ``actor`` take ``action`` (for a page to offer it or not)."""
    try:
        authorize(actor, action)
    except AccessDenied:
        return False
    return True


def perform(
    con: duckdb.DuckDBPyConnection,
    actor: Actor,
    action: str,
    function: Callable[..., Any],
    /,
    *args: Any,
    target: str | None = None,
    **kwargs: Any,
) -> Any:
    """Authorise ``action`` for ``actor``, run ``function(con, *args, **kwargs)``, and audit the outcome.

    An action on one crisis (``on = "crisis"`` in access.toml, the crisis id first in ``args``) is
    also refused when that crisis lies outside the actor's segments. A refusal is audited and
    raised as AccessDenied before anything is written; a failure is audited with its one-line
    message and raised again.
    """
    try:
        authorize(actor, action)
        _authorize_segment(con, actor, action, args, kwargs)
    except AccessDenied as exc:
        audit(con, actor, action, "refused", target, {"reason": str(exc)})
        raise
    try:
        result = function(con, *args, **kwargs)
    except Exception as exc:
        try:
            audit(con, actor, action, "failed", target, {"error": str(exc)[:500]})
        except duckdb.Error as lost:
            # The warehouse cannot take the audit row either (a full disk): the one line says so,
            # rather than the audit's own error hiding what failed.
            why = "no space for it either" if is_disk_full(lost) else str(lost).splitlines()[0]
            if isinstance(exc, IngestError):
                raise IngestError(exc.file_name, f"{exc.problem}; not in the audit log ({why})") from exc
            exc.add_note(f"not in the audit log ({why})")
            raise exc from exc.__cause__
        raise
    audit(con, actor, action, "done", target, _summary(result))
    return result


def _authorize_segment(
    con: duckdb.DuckDBPyConnection, actor: Actor, action: str, args: tuple, kwargs: dict[str, Any]
) -> None:
    """AccessDenied when ``action`` is on a crisis outside the actor's segments.

    The crisis id is the first argument or ``crisis_id=``, looked up in the warehouse, not
    trusted from the page; a limited actor's call that names no crisis is refused. To them a
    crisis that does not exist is refused with the same words as one outside their segments,
    and neither names the crisis's segment: the refusal must not tell them what lies outside.
    """
    if not actor.segments or actions()[action].get("on") != "crisis":
        return
    number = args[0] if args else kwargs.get("crisis_id")
    try:
        number = int(number)
        found = con.sql("SELECT dimension, segment FROM crises WHERE crisis_id = ?", params=[number]).fetchall()
    except (TypeError, ValueError, OverflowError, duckdb.Error):
        found = []
    if not found or not within(actor.segments, *found[0]):
        raise AccessDenied(
            f"{actor.name} may not {actions()[action]['description']} for crisis {number}: "
            "it is not among the crises of their segments"
        )


def _summary(result: Any) -> dict | None:
    """What an action returned, small enough for the audit log."""
    if result is None:
        return None
    if isinstance(result, dict):
        return {k: v for k, v in result.items() if isinstance(v, (int, float, str, bool))}
    fields = ("batch_id", "rows_read", "rows_loaded", "rows_updated", "rows_duplicate", "rows_rejected")
    found = {f: getattr(result, f) for f in fields if hasattr(result, f)}
    return found or {"result": str(result)[:200]}


def audit(
    con: duckdb.DuckDBPyConnection,
    actor: Actor | str,
    action: str,
    outcome: str,
    target: str | None = None,
    detail: dict | None = None,
) -> None:
    """One row in the audit log."""
    name, role = (actor.name, actor.role) if isinstance(actor, Actor) else (actor, None)
    con.execute(
        """INSERT INTO audit_log (occurred_at, actor, role, action, outcome, target, detail)
           VALUES (now(), ?, ?, ?, ?, ?, ?)""",
        [name, role, action, outcome, target, json.dumps(detail, default=str) if detail else None],
    )


def audit_entries(con: duckdb.DuckDBPyConnection, limit: int = 1000) -> pl.DataFrame:
    """The audit log, newest first."""
    return con.sql(
        f"""SELECT audit_id, occurred_at, actor, role, action, outcome, target, detail::VARCHAR AS detail
            FROM audit_log ORDER BY occurred_at DESC, audit_id DESC LIMIT {int(limit)}"""
    ).pl()


# Users -------------------------------------------------------------------------------------------


def _check_role(role: str) -> str:
    if role not in REGISTRY["roles"]:
        raise AccessError(f"unknown role {role!r} (use {', '.join(roles())})")
    return role


def _check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccessError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    return password


def _check_name(username: str) -> str:
    """The canonical form of a new user's name; AccessError saying which characters are allowed."""
    name = names.canonical(username)
    problem = names.name_problem(name)
    if problem:
        raise AccessError(problem)
    return name


def _stored_name(con: duckdb.DuckDBPyConnection, typed: str, exact_first: bool = False) -> str | None:
    """The stored user ``typed`` means: its canonical form, or a name an older version stored in
    another case or normal form; with ``exact_first``, a stored name typed exactly wins (so an
    administrator can still reach a look-alike an older version let in)."""
    wanted = names.canonical(typed)
    found = con.sql(
        """SELECT username FROM app_users
           WHERE username = ? OR username = ? OR nfc_normalize(lower(username)) = ?
           ORDER BY username = ? DESC, username = ? DESC, username LIMIT 1""",
        params=[typed if exact_first else wanted, wanted, wanted, typed if exact_first else wanted, wanted],
    ).fetchall()
    return found[0][0] if found else None


def _segments_json(segments: dict[str, Iterable[str]] | None) -> str | None:
    if not segments:
        return None
    return json.dumps({dimension: sorted(set(values)) for dimension, values in segments.items()})


def add_user(
    con: duckdb.DuckDBPyConnection,
    username: str,
    role: str,
    password: str | None = None,
    segments: dict[str, Iterable[str]] | None = None,
    created_by: str = "",
) -> str:
    """Create a user under the canonical form of ``username`` (returned); without a password it
    can only sign in through the identity provider."""
    name, role = _check_name(username), _check_role(role)
    digest = _hasher().hash(_check_password(password)) if password is not None else None
    if (existing := _stored_name(con, name)) is not None:
        raise AccessError(f"user {names.printable(existing)} already exists")
    con.execute(
        """INSERT INTO app_users (username, password_hash, role, segments, created_at, created_by, password_set_at)
           VALUES (?, ?, ?, ?, now(), ?, CASE WHEN ? IS NULL THEN NULL ELSE now() END)""",
        [name, digest, role, _segments_json(segments), created_by or "?", digest],
    )
    return name


def _existing(con: duckdb.DuckDBPyConnection, username: str) -> str:
    """The stored name of the user ``username`` means (see _stored_name); AccessError if none."""
    name = _stored_name(con, username.strip(), exact_first=True)
    if name is None:
        raise AccessError(f"no user {names.printable(names.canonical(username))}")
    return name


def set_role(
    con: duckdb.DuckDBPyConnection, username: str, role: str, segments: dict[str, Iterable[str]] | None = None
) -> str:
    """Give a user another role and segment restriction (None = every segment); returns the stored name."""
    name = _existing(con, username)
    con.execute(
        "UPDATE app_users SET role = ?, segments = ? WHERE username = ?",
        [_check_role(role), _segments_json(segments), name],
    )
    return name


def set_password(con: duckdb.DuckDBPyConnection, username: str, password: str) -> str:
    """Replace a user's password (stored only as a salted argon2id hash); returns the stored name."""
    digest, name = _hasher().hash(_check_password(password)), _existing(con, username)
    con.execute("UPDATE app_users SET password_hash = ?, password_set_at = now() WHERE username = ?", [digest, name])
    return name


def disable_user(con: duckdb.DuckDBPyConnection, username: str, disabled: bool = True) -> str:
    """Disable (or re-enable) a user; a disabled user's sessions end at their next request. Returns the stored name."""
    name = _existing(con, username)
    con.execute("UPDATE app_users SET disabled = ? WHERE username = ?", [disabled, name])
    return name


def users(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Every user with role, segments and state; never the password hashes."""
    return con.sql(
        """SELECT username, role, segments::VARCHAR AS segments, disabled, password_hash IS NOT NULL AS has_password,
                  created_at, created_by, password_set_at
           FROM app_users ORDER BY username"""
    ).pl()


def _actor_row(con: duckdb.DuckDBPyConnection, username: str) -> tuple | None:
    found = con.sql(
        "SELECT username, role, segments::VARCHAR, disabled, password_hash FROM app_users WHERE username = ?",
        params=[username],
    ).fetchall()
    return found[0] if found else None


def _actor(row: tuple) -> Actor:
    username, role, segments, _, _ = row
    restriction = json.loads(segments) if segments else {}
    return Actor(username, role, as_segments(dict(sorted(restriction.items()))))


@functools.cache
def _hasher():
    from argon2 import PasswordHasher

    return PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Checked against when the name is unknown, so a wrong name takes as long as a wrong password."""
    return _hasher().hash("csat-radar: no such user")


def _recent_failures(con: duckdb.DuckDBPyConnection, username: str, now: datetime) -> int:
    """Failed sign-ins for ``username`` since its last success, within the window."""
    return con.sql(
        """SELECT count(*) FROM audit_log
           WHERE actor = ? AND action = 'sign_in_failed' AND occurred_at >= ?
             AND occurred_at > coalesce(
                 (SELECT max(occurred_at) FROM audit_log WHERE actor = ? AND action = 'sign_in'), '-infinity')""",
        params=[username, now - FAILED_SIGN_IN_WINDOW, username],
    ).fetchall()[0][0]


def sign_in(con: duckdb.DuckDBPyConnection, username: str, password: str, now: datetime | None = None) -> Session:
    """A new session for the right name and password; AccessDenied (audited) otherwise.

    The message never says whether the name or the password was wrong. After
    MAX_FAILED_SIGN_INS failures in FAILED_SIGN_IN_WINDOW the name is locked for the window.
    """
    now = now or datetime.now(UTC)
    # Every look-alike of a name (other case, fullwidth, ...) is that name, and shares its lockout.
    name = _stored_name(con, username) or names.canonical(username)[: names.MAX_NAME_LENGTH]
    if _recent_failures(con, name, now) >= MAX_FAILED_SIGN_INS:
        audit(con, name, "sign_in_failed", "refused", name, {"reason": "locked"})
        minutes = int(FAILED_SIGN_IN_WINDOW.total_seconds() // 60)
        raise AccessDenied(f"too many failed sign-ins for {names.printable(name)}: try again in {minutes} minutes")
    row = _actor_row(con, name)
    stored = row[4] if row and row[4] else _dummy_hash()
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        _hasher().verify(stored, password)
        valid = row is not None and row[4] is not None and not row[3]
    except (VerificationError, InvalidHashError):
        valid = False
    if not valid:
        audit(con, name, "sign_in_failed", "refused", name)
        raise AccessDenied("wrong name or password, or the account is disabled")
    if _hasher().check_needs_rehash(stored):
        con.execute("UPDATE app_users SET password_hash = ? WHERE username = ?", [_hasher().hash(password), name])
    actor = _actor(row)
    audit(con, actor, "sign_in", "done", name)
    return Session(actor, now, now)


def identity_session(con: duckdb.DuckDBPyConnection, email: str | None, now: datetime | None = None) -> Session:
    """A session for an identity provider's user: the e-mail (in canonical form) must be a user here, not disabled."""
    now = now or datetime.now(UTC)
    name = names.canonical(email or "")[: names.MAX_NAME_LENGTH]
    row = _actor_row(con, stored) if name and (stored := _stored_name(con, name)) else None
    if row is None or row[3]:
        audit(con, name or "?", "sign_in_failed", "refused", name or None, {"via": "identity provider"})
        shown = names.printable(name) or "this account"
        raise AccessDenied(f"{shown} has no role in CSAT Radar; ask an administrator to add it")
    actor = _actor(row)
    audit(con, actor, "sign_in", "done", name, {"via": "identity provider"})
    return Session(actor, now, now)


def session_timeouts() -> tuple[timedelta, timedelta]:
    """Idle timeout and longest lifetime of a session (CSAT_RADAR_SESSION_IDLE_MINUTES, _HOURS)."""
    idle = float(os.environ.get(IDLE_ENV, DEFAULT_IDLE_MINUTES))
    lifetime = float(os.environ.get(LIFETIME_ENV, DEFAULT_LIFETIME_HOURS))
    return timedelta(minutes=idle), timedelta(hours=lifetime)


def renewed(con: duckdb.DuckDBPyConnection, session: Session | None, now: datetime | None = None) -> Session | None:
    """The session brought up to date for this request, or None when it has expired or its user is gone.

    The role and segments are read again each time, so a change by an administrator (or a
    disabled account) takes effect at the user's next click, not at their next sign-in.
    """
    if session is None:
        return None
    now = now or datetime.now(UTC)
    idle, lifetime = session_timeouts()
    if now - session.last_seen > idle or now - session.started > lifetime:
        return None
    row = _actor_row(con, session.actor.name)
    if row is None or row[3]:
        return None
    return Session(_actor(row), session.started, now)


def has_users(con: duckdb.DuckDBPyConnection) -> bool:
    return bool(con.sql("SELECT count(*) FROM app_users WHERE NOT disabled").fetchall()[0][0])


# Segment restriction -------------------------------------------------------------------------------
# A limit is the actor's segments, ((dimension, (value, ...)), ...); empty means the whole organisation.
# The data a limited actor sees is the intersection of their dimensions. A crisis covers one
# segment of one dimension whole (or the whole organisation, dimension "overall"), so it is
# within a limit only when the limit is on that one dimension alone and names that segment: an
# org-wide crisis, or a team's crisis for someone limited to one channel of that team, would
# show figures from outside what they may see.


def narrow(chosen: Segments, limit: Segments) -> Segments:
    """The filters applied under ``limit``: the chosen values within it, all of the limit otherwise."""
    allowed = dict(limit)
    if not allowed:
        return chosen
    result = dict(chosen)
    for dimension, values in allowed.items():
        picked = [v for v in result.get(dimension, ()) if v in values]
        result[dimension] = tuple(sorted(picked or values))
    return tuple(sorted(result.items()))


def restrict(chosen: Segments, actor: Actor) -> Segments:
    """The filters a restricted actor may apply: theirs within their segments, their segments otherwise."""
    return narrow(chosen, actor.segments)


def within(limit: Segments, dimension: str, segment: str) -> bool:
    """Whether a crisis of ``dimension`` ``segment`` shows only data inside ``limit``."""
    if not limit:
        return True
    return len(limit) == 1 and limit[0][0] == dimension and segment in limit[0][1]


def may_see(actor: Actor, dimension: str, segment: str) -> bool:
    """Whether a crisis in ``dimension`` ``segment`` is within the actor's segments."""
    return within(actor.segments, dimension, segment)


def visible_crises(crises: pl.DataFrame, limit: Actor | Segments) -> pl.DataFrame:
    """The crises within ``limit`` (an actor's segments), by the rule above.

    Takes the crisis log (``dimension`` and ``segment``) or its table form (``where``).
    """
    import polars as pl

    limit = limit.segments if isinstance(limit, Actor) else limit
    if not limit:
        return crises
    if len(limit) > 1:
        return crises.clear()
    dimension, values = limit[0]
    if "dimension" in crises.columns:
        return crises.filter((pl.col("dimension") == dimension) & pl.col("segment").is_in(list(values)))
    return crises.filter(pl.col("where").is_in([f"{dimension} {value}" for value in values]))


def parse_segments(pairs: Iterable[str], known: Iterable[str]) -> dict[str, list[str]]:
    """``["team=Billing", "team=Onboarding"]`` as ``{"team": ["Billing", "Onboarding"]}``; AccessError if malformed."""
    known = set(known)
    segments: dict[str, list[str]] = {}
    for pair in pairs:
        if not pair.strip():
            continue
        dimension, sep, value = pair.partition("=")
        dimension, value = dimension.strip(), value.strip()
        if not sep or not value:
            raise AccessError(f"{pair!r}: write a segment as DIMENSION=VALUE, e.g. team=Billing")
        if dimension not in known:
            raise AccessError(f"{dimension!r} is not a dimension (use {', '.join(sorted(known))})")
        segments.setdefault(dimension, []).append(value)
    return segments
