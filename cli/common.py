"""What every command of ``csat-radar`` shares: the exit codes, the ``--db`` option and the "as of" line.

The command modules (load, serve, answers, people) import from here and never from ``cli.main``,
which imports them to build the parser.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime

EXIT_OK, EXIT_FAILED, EXIT_UNREADABLE = 0, 1, 2


def with_db(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Give a command the ``--db`` option every warehouse command takes."""
    p.add_argument("--db", help="warehouse file (default: $CSAT_RADAR_DB or data/warehouse.duckdb)")
    return p


def print_as_of(moment: datetime | None, machine: bool = False) -> None:
    """Say which moment "now" is (the data's own, ``warehouse_as_of``) before a command's answer.

    Text answers lead with the line; a machine format (JSON, CSV) gets it on stderr, so what a
    program parses stays exactly the records it always was.
    """
    from metrics.kpis.formats import as_of_line  # here, not at the top: ``csat-radar --help`` stays fast

    print(as_of_line(moment), file=sys.stderr if machine else sys.stdout)
