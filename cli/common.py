"""What every command of ``csat-radar`` shares: the exit codes and the ``--db`` option.

The command modules (load, serve, answers, people) import from here and never from ``cli.main``,
which imports them to build the parser.
"""

from __future__ import annotations

import argparse

EXIT_OK, EXIT_FAILED, EXIT_UNREADABLE = 0, 1, 2


def with_db(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Give a command the ``--db`` option every warehouse command takes."""
    p.add_argument("--db", help="warehouse file (default: $CSAT_RADAR_DB or data/warehouse.duckdb)")
    return p
