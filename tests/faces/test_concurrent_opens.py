"""The app's sessions open and close their connections to one warehouse at the same moments.

Under twenty managers, one thread closing the file's last connection as another opens it made
DuckDB refuse the open ("Unique file handle conflict") and the page showed an exception.
"""

from __future__ import annotations

import threading

from pipelines.warehouse.store import connect, connect_for_reading

THREADS, ROUNDS = 12, 40


def test_many_sessions_opening_and_closing_at_once_all_get_their_connection(tmp_path):
    db = tmp_path / "opens.duckdb"
    connect(db).close()
    together, failures = threading.Barrier(THREADS), []

    def session() -> None:
        for _ in range(ROUNDS):
            together.wait()
            try:
                con = connect_for_reading(db)
                con.sql("SELECT count(*) FROM batches").fetchall()
                con.close()
            except Exception as exc:  # every failure is the finding, whatever its kind
                failures.append(str(exc))

    threads = [threading.Thread(target=session) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
