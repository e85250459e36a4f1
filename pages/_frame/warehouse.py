"""Which warehouse file this app serves, for every connection the pages open."""

from __future__ import annotations

from pathlib import Path

from pipelines.warehouse.store import resolve_db_path


def warehouse_path() -> Path:
    """The warehouse file this app serves (CSAT_RADAR_DB, set by ``csat-radar serve``)."""
    return resolve_db_path()


def db() -> str:
    return str(warehouse_path())
