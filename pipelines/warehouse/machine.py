"""What this machine can give a load: its memory and cores, read once, and the budgets made of them.

DuckDB left to itself takes 80% of the machine's memory and holds it while a load's parts
(Polars frames) need their share too: a 10M-row export with a free-text column peaked at
3.3 GB. The budgets here bound both, whatever the file's shape; each has an environment
override, refused in one line when it is not a number (``pipelines.common.limits``).
"""

from __future__ import annotations

import os
from pathlib import Path

from pipelines.common.limits import Limit

MB = 1024 * 1024

# DuckDB's memory_limit (megabytes) and threads on every connection; unset, from the machine.
DUCKDB_MEMORY = Limit("CSAT_RADAR_DUCKDB_MEMORY_MB", 0, zero=True)
DUCKDB_THREADS = Limit("CSAT_RADAR_DUCKDB_THREADS", 0, whole=True, zero=True)
# The size of one part of a large text file, as Polars holds it (megabytes); unset, from the machine.
PART = Limit("CSAT_RADAR_PART_MB", 0, zero=True)

# A quarter of the memory for DuckDB, within these bounds: enough to aggregate millions of rows
# without spilling much, and room left for the parts being staged beside it.
DUCKDB_MEMORY_BOUNDS = (256 * MB, 1024 * MB)
# One part is about a 256th of the memory, within these bounds: a part is held several times over
# while it is staged (typed, checked, keyed, converted to Arrow) and two are in flight.
PART_BOUNDS = (8 * MB, 48 * MB)


def _cgroup_limit() -> int | None:
    """The memory a container allows this process (cgroup v2 or v1), or None when unbounded."""
    for name in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(name).read_text(encoding="ascii").strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 1 << 60:
            return int(text)
    return None


def memory_bytes() -> int:
    """The memory this process may use: the machine's, or its container's when that is less."""
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not POSIX: assume a small machine
        physical = 4 * 1024 * MB
    container = _cgroup_limit()
    return min(physical, container) if container else physical


def cores() -> int:
    """The cores this process may run on (its affinity, which containers narrow), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _bounded(value: int, bounds: tuple[int, int]) -> int:
    return max(bounds[0], min(bounds[1], value))


def duckdb_memory_bytes() -> int:
    """DuckDB's memory_limit: CSAT_RADAR_DUCKDB_MEMORY_MB, or a quarter of the memory within its bounds."""
    if DUCKDB_MEMORY.value():
        return DUCKDB_MEMORY.bytes()
    return _bounded(memory_bytes() // 4, DUCKDB_MEMORY_BOUNDS)


def duckdb_threads() -> int:
    """DuckDB's threads: CSAT_RADAR_DUCKDB_THREADS, or the cores this process may use."""
    return int(DUCKDB_THREADS.value()) or cores()


def part_bytes() -> int:
    """The size of one part of a large text file: CSAT_RADAR_PART_MB, or a 256th of the memory within bounds."""
    if PART.value():
        return PART.bytes()
    return _bounded(memory_bytes() // 256, PART_BOUNDS)
