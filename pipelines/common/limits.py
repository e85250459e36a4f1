"""The ingest's limits set in the environment, each read by one helper that refuses a bad value in one line.

A value that was not a number surfaced as "unexpected error: ValueError", or was blamed on the
file being read; a negative one was taken as a limit that every file breaks or none does. Each
setting is checked before a file is read, so the user is told which variable to fix and how.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from pipelines.common.errors import IngestError


class SettingError(ValueError):
    """A limit set in the environment to a value it cannot take; ``str(error)`` is the one line shown."""


@dataclass(frozen=True)
class Limit:
    env: str
    default: float
    whole: bool = False  # a count (levels, days), not an amount (megabytes)
    zero: bool = False  # 0 is meaningful (read every file in parts)

    def value(self) -> float:
        """The setting, or the default when unset; SettingError naming the variable for anything else."""
        text = os.environ.get(self.env, "").strip()
        if not text:
            return self.default
        try:
            value = int(text) if self.whole else float(text)
        except ValueError:
            value = math.nan
        if not (value >= 0 if self.zero else value > 0) or math.isinf(value):
            kind = "a whole number" if self.whole else "a number"
            raise SettingError(f"{self.env} {text[:40]!r} is not {kind} {'of 0 or more' if self.zero else 'above 0'}")
        return value

    def bytes(self) -> int:
        """A limit in megabytes, as bytes."""
        return int(self.value() * 1024 * 1024)


NESTING = Limit("CSAT_RADAR_MAX_NESTING", 64, whole=True)
FIELD_MB = Limit("CSAT_RADAR_MAX_FIELD_MB", 32)
STREAM_MB = Limit("CSAT_RADAR_STREAM_MB", 64, zero=True)
UPLOAD_MB = Limit("CSAT_RADAR_MAX_UPLOAD_MB", 1024)
EXCEL_MB = Limit("CSAT_RADAR_MAX_EXCEL_MB", 1024)
DURATION_DAYS = Limit("CSAT_RADAR_MAX_DURATION_DAYS", 365, whole=True)
ALL = (NESTING, FIELD_MB, STREAM_MB, UPLOAD_MB, EXCEL_MB, DURATION_DAYS)


def check(file_name: str) -> None:
    """IngestError, naming the file about to be read and the bad setting, when any limit is set to what it cannot be."""
    for limit in ALL:
        try:
            limit.value()
        except SettingError as exc:
            raise IngestError(file_name, str(exc)) from None
