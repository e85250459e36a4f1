"""Files that would crash a reader (docs/reliability.md, "Files that would crash a reader"): nesting that
segfaults Polars, source columns named like internal ones, a field of hundreds of megabytes, and
Parquet dates past the calendar Polars can print. Each is refused in one line naming the file, or
loaded with the bad rows rejected and their reasons; never a crash, a traceback or a silent drop."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.common.errors import IngestError
from pipelines.ingest import ingest_file, preview_file
from pipelines.read import guards
from tests.conftest import ROOT, run_cli

RECORD = '{"ticket id":"T1","created at":"2026-09-01 09:00","extra":%s}'


def _nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def _deep_parquet(depth: int) -> bytes:
    kind = pa.int64()
    for _ in range(depth):
        kind = pa.struct([("a", kind)])
    table = pa.table({"ticket id": ["T1"], "created at": ["2026-09-01 09:00"], "extra": pa.array([None], kind)})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


DEEP = {
    "deep.jsonl": lambda: (RECORD % _nested(600) + "\n").encode(),
    "deep.json": lambda: ("[" + RECORD % _nested(1000) + "]").encode(),
    "deep.parquet": lambda: _deep_parquet(600),
}
REFUSAL = "cannot read as {}: nested too deeply to read ({} levels; the limit is 64, CSAT_RADAR_MAX_NESTING)"
DEPTHS = {"deep.jsonl": "601", "deep.json": "1,002", "deep.parquet": "more than 100"}


def _batches(db: Path) -> int:
    with duckdb.connect(str(db)) as con:
        return con.sql("SELECT count(*) FROM batches").fetchall()[0][0]


@pytest.mark.parametrize("name", sorted(DEEP))
def test_a_file_nested_hundreds_deep_is_refused_in_one_line_not_a_segfault(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(DEEP[name]())
    db = tmp_path / "w.duckdb"
    done = run_cli("ingest", str(path), "--kind", "tickets", "--tz", "UTC", "--db", str(db))
    expected = REFUSAL.format(Path(name).suffix[1:], DEPTHS[name])
    assert (done.returncode, done.stderr) == (2, f"csat-radar: {name}: {expected}\n")
    assert _batches(db) == 0


@pytest.mark.parametrize("name", sorted(DEEP))
def test_the_upload_page_s_preview_refuses_a_deeply_nested_file_in_process(name):
    # The page previews on file choice, inside the server: a segfault here would end this test run.
    with pytest.raises(IngestError) as caught:
        preview_file(DEEP[name](), "tickets", name, source_tz="UTC")
    assert str(caught.value) == f"{name}: " + REFUSAL.format(Path(name).suffix[1:], DEPTHS[name])


def test_the_upload_page_shows_the_refusal_of_each_deeply_nested_file(tmp_path, monkeypatch):
    from pipelines.warehouse.store import connect
    from tests.faces.test_app import open_page

    connect(tmp_path / "w.duckdb").close()
    monkeypatch.setenv("CSAT_RADAR_DB", str(tmp_path / "w.duckdb"))
    app = open_page("upload")
    app.get("file_uploader")[0].set_value([(name, make(), "application/octet-stream") for name, make in DEEP.items()])
    app.run()
    assert not app.exception, app.exception
    shown = {e.label.removesuffix(": preview"): [error.value for error in e.error] for e in app.expander}
    assert shown == {name: [f"{name}: " + REFUSAL.format(Path(name).suffix[1:], DEPTHS[name])] for name in DEEP}


def test_a_parquet_column_deeper_than_the_limit_but_within_pyarrow_s_is_measured(con):
    with pytest.raises(IngestError) as caught:
        ingest_file(con, _deep_parquet(80), "tickets", "eighty.parquet", source_tz="UTC")
    assert str(caught.value) == "eighty.parquet: " + REFUSAL.format("parquet", "81")


def test_nesting_within_the_limit_loads_and_the_limit_is_configurable(con, monkeypatch):
    data = (RECORD % _nested(40) + "\n").encode()
    assert ingest_file(con, data, "tickets", "forty.jsonl", source_tz="UTC").rows_loaded == 1
    monkeypatch.setenv("CSAT_RADAR_MAX_NESTING", "20")
    with pytest.raises(IngestError, match=r"^forty\.jsonl: .*\(41 levels; the limit is 20, CSAT_RADAR_MAX_NESTING\)$"):
        ingest_file(con, data, "tickets", "forty.jsonl", source_tz="UTC")


def test_brackets_inside_strings_do_not_count_however_they_are_escaped(con):
    text = '{[ \\" [[[ \\\\' * 200  # brackets, escaped quotes and escaped backslashes inside one string
    data = (RECORD % json.dumps(text) + "\n").encode()
    result = ingest_file(con, data, "tickets", "brackets.jsonl", source_tz="UTC")
    assert result.rows_loaded == 1
    assert json.loads(con.sql("SELECT attributes FROM tickets").fetchall()[0][0]) == {"extra": text}


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 4 * 1024 * 1024])
def test_the_depth_scan_agrees_with_a_json_parser_wherever_the_chunks_are_cut(monkeypatch, chunk):
    monkeypatch.setattr(guards, "CHUNK", chunk)
    values = [
        {"a": [1, {"b": "x]}\\\\"}], "c": '"{'},
        ["\\", ['\\\\\\"[', [[[]]]]],
        {'k\\"{': {"k": {"k": [{"deep": "]]]]"}]}}},
        'plain \\\\\\" text',
    ]
    for value in values:
        assert guards.json_scan(json.dumps(value).encode()) == (_reference_depth(value), _longest_string(value))


def _longest_string(value) -> int:
    """The longest string (key or value) as JSON stores it, escapes and all, without its quotes."""
    stack, longest = [value], 0
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            longest = max(longest, len(json.dumps(item)) - 2)
        elif isinstance(item, (list, dict)):
            stack.extend([*item.keys(), *item.values()] if isinstance(item, dict) else item)
    return longest


def _reference_depth(value) -> int:
    stack, deepest = [(value, 0)], 0
    while stack:
        item, level = stack.pop()
        if isinstance(item, (list, dict)):
            deepest = max(deepest, level + 1)
            stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


INTERNAL = ["__line", "__key", "__order", "__raw", "__lines", "__reason", "__reason_column", "__by_0"]


def _read_as_large(monkeypatch) -> None:
    from pipelines.read import stream

    monkeypatch.setattr(stream, "STREAM_BYTES", 0)
    monkeypatch.setattr(stream, "STREAM_ROWS", 2)


@pytest.fixture(params=["large", "small"])
def either_size(request, monkeypatch):
    if request.param == "large":
        _read_as_large(monkeypatch)


def test_source_columns_named_like_internal_ones_are_kept(con, tmp_path, either_size):
    path = tmp_path / "internal.csv"
    header = ",".join(["ticket id", "created at", *INTERNAL])
    rows = [",".join(["T1", "2026-03-02 09:00", *(f"{n}-1" for n in INTERNAL)]),
            ",".join(["T2", "2026-03-02 09:00", *(f"{n}-2" for n in INTERNAL)]),
            ",".join(["T3", "not a date", *(f"{n}-3" for n in INTERNAL)])]  # fmt: skip
    path.write_text("\n".join([header, *rows]) + "\n")
    result = ingest_file(con, path, "tickets", source_tz="UTC")
    assert (result.rows_read, result.rows_loaded, result.rows_rejected) == (3, 2, 1)
    stored = con.sql("SELECT ticket_id, attributes FROM tickets ORDER BY 1").fetchall()
    assert [(key, json.loads(attributes)) for key, attributes in stored] == [
        (f"T{n}", {name: f"{name}-{n}" for name in INTERNAL}) for n in (1, 2)
    ]
    line, raw = con.sql("SELECT line_number, raw_record FROM rejected_rows").fetchall()[0]
    assert (line, json.loads(raw)) == (4, {"ticket id": "T3", "created at": "not a date",
                                           **{name: f"{name}-3" for name in INTERNAL}})  # fmt: skip


@pytest.mark.parametrize("name", ["internal.jsonl", "internal.json", "internal.parquet"])
def test_keys_and_parquet_columns_named_like_internal_ones_are_kept(con, tmp_path, name):
    record = {"ticket id": "T1", "created at": "2026-03-02 09:00", **{n: f"{n}-1" for n in INTERNAL}}
    path = tmp_path / name
    if name.endswith(".parquet"):
        pq.write_table(pa.Table.from_pylist([record]), path)
    else:
        path.write_text(json.dumps([record]) if name.endswith(".json") else json.dumps(record) + "\n")
    assert ingest_file(con, path, "tickets", source_tz="UTC").rows_loaded == 1
    attributes = con.sql("SELECT attributes FROM tickets").fetchall()[0][0]
    assert json.loads(attributes) == {n: f"{n}-1" for n in INTERNAL}


def _write_long_field(path: Path, megabytes: float, quoted: bool = False) -> None:
    """A table whose second record (line 3) has one field of ``megabytes``, written in parts."""
    with path.open("wb") as handle:
        handle.write(b"ticket id,created at,channel\nT1,2026-03-02 09:00,email\nT2,2026-03-02 09:00,")
        line = b"x" * 1023 + b"\n" if quoted else b"x" * 1024
        handle.write(b'"' if quoted else b"")
        for _ in range(int(megabytes * 1024)):
            handle.write(line)
        handle.write(b'"' if quoted else b"")
        handle.write(b"\nT3,2026-03-02 09:00,chat\n")


@pytest.mark.parametrize("stream_mb", ["0", "64"])  # read as a large file, and whole
@pytest.mark.parametrize("quoted", [False, True], ids=["one line", "quoted across short lines"])
def test_a_field_over_the_limit_is_refused_naming_the_file_the_line_and_the_limit(tmp_path, stream_mb, quoted):
    path = tmp_path / "long.csv"
    _write_long_field(path, 3, quoted)
    db = tmp_path / "w.duckdb"
    env = {"CSAT_RADAR_MAX_FIELD_MB": "1", "CSAT_RADAR_STREAM_MB": stream_mb}
    done = run_cli("ingest", str(path), "--kind", "tickets", "--tz", "UTC", "--db", str(db), env=env)
    assert (done.returncode, done.stderr) == (
        2,
        "csat-radar: long.csv: line 3 holds a field longer than 1 MB (the limit, CSAT_RADAR_MAX_FIELD_MB)\n",
    )
    assert _batches(db) == 0


@pytest.mark.parametrize("either", ["large", "small"])
def test_a_field_under_the_limit_loads_whole(con, tmp_path, monkeypatch, either):
    if either == "large":
        _read_as_large(monkeypatch)
    monkeypatch.setenv("CSAT_RADAR_MAX_FIELD_MB", "1")
    path = tmp_path / "long.csv"
    _write_long_field(path, 0.9)
    result = ingest_file(con, path, "tickets", source_tz="UTC")
    assert (result.rows_read, result.rows_loaded) == (3, 3)
    assert con.sql("SELECT max(length(channel)) FROM tickets").fetchall() == [(int(0.9 * 1024) * 1024,)]


def test_a_200_mb_field_is_refused_in_one_line_in_little_memory(tmp_path):
    path = tmp_path / "huge.csv"
    _write_long_field(path, 200)
    db = tmp_path / "w.duckdb"
    # A fresh parent whose one child is the CLI, so its children's peak memory is the CLI's own.
    measure = (
        "import resource, subprocess, sys; "
        "done = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
        "print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); "
        "sys.stderr.write(done.stderr)"
    )
    cli = [sys.executable, "-m", "cli.main", "ingest", str(path), "--kind", "tickets", "--tz", "UTC"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CSAT_RADAR_MAX_FIELD")}
    done = subprocess.run([sys.executable, "-c", measure, *cli, "--db", str(db)], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=300)  # fmt: skip
    code, peak_kb = map(int, done.stdout.split())
    assert (code, done.stderr) == (
        2,
        "csat-radar: huge.csv: line 3 holds a field longer than 32 MB (the limit, CSAT_RADAR_MAX_FIELD_MB)\n",
    )
    assert peak_kb < 600 * 1024  # it was 1.5 to 3 GB before the field was refused unread
    assert _batches(db) == 0


def test_a_parquet_date_past_the_calendar_rejects_its_row_with_nothing_on_stderr(tmp_path):
    path = tmp_path / "far.parquet"
    created = pa.array([10**13, 1_772_442_000, None], pa.timestamp("s"))  # year ~318,000; 2026; none
    pq.write_table(pa.table({"ticket id": ["T1", "T2", "T3"], "created at": created}), path)
    db = tmp_path / "w.duckdb"
    done = run_cli("ingest", str(path), "--kind", "tickets", "--tz", "UTC", "--db", str(db), "--json")
    assert (done.returncode, done.stderr) == (0, "")  # no panic lines from Polars
    summary = json.loads(done.stdout)
    assert (summary["rows_read"], summary["rows_loaded"], summary["rows_rejected"]) == (3, 1, 2)
    with duckdb.connect(str(db)) as con:
        rejected = con.sql("SELECT line_number, reason, raw_record FROM rejected_rows ORDER BY 1").fetchall()
    # Parquet keeps seconds as milliseconds: the value is shown as the file stores it.
    assert [(line, reason, json.loads(raw)) for line, reason, raw in rejected] == [
        (1, "created at '10000000000000000' (ms from 1970) is outside years 1-9999",
         {"ticket id": "T1", "created at": "10000000000000000"}),
        (3, "missing created_at", {"ticket id": "T3", "created at": None}),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "far", "near", "unit"),
    [(pa.date32(), 2**31 - 1, 20_000, "days"), (pa.timestamp("us", tz="UTC"), 2**62, 20_000 * 86_400 * 10**6, "us")],
)
def test_other_date_types_past_the_calendar_reject_their_row(con, tmp_path, kind, far, near, unit):
    path = tmp_path / "far.parquet"
    pq.write_table(pa.table({"ticket id": ["T1", "T2"], "created at": pa.array([far, near], kind)}), path)
    result = ingest_file(con, path, "tickets", source_tz="UTC")
    assert (result.rows_read, result.rows_loaded) == (2, 1)
    assert result.rejections == {f"created at ({unit} from 1970) is outside years 1-9999": 1}
    reason = con.sql("SELECT reason FROM rejected_rows").fetchall()
    assert reason == [(f"created at '{far}' ({unit} from 1970) is outside years 1-9999",)]


@pytest.mark.parametrize("chunk", [1, 3, 5, 4 * 1024 * 1024])
def test_the_line_scan_names_the_first_long_line_wherever_the_chunks_are_cut(monkeypatch, chunk):
    monkeypatch.setattr(guards, "CHUNK", chunk)
    for lines, expected in [
        (["ab", "abcd", "abcdefg", "a"], 3),
        (["abcdefg"], 1),
        (["a", "b", "", "abcdef"], 4),
        (["abc", "abcde", "ab"], None),
    ]:
        for end in ("\n", "\r\n"):
            assert guards.first_long_line(end.join(lines).encode(), 5) == expected


NESTED_DATES = {  # (the values, the first off-calendar one as Parquet stores it, the column as shown)
    "list": (pa.array([[10**13], [1]], pa.list_(pa.timestamp("s"))), "10000000000000000", "10000000000000000"),
    "struct": (pa.array([{"t": 10**13}, {"t": 1}], pa.struct([("t", pa.timestamp("s"))])), "10000000000000000",
               '{"t":10000000000000000}'),
    "map": (pa.array([[("k", 10**16)], [("k", 1)]], pa.map_(pa.string(), pa.timestamp("ms"))), "10000000000000000",
            '{"key":"k","value":10000000000000000}'),
    "fixed list": (pa.array([[1, 10**16], [1, 2]], pa.list_(pa.timestamp("ms"), 2)), "10000000000000000",
                   "1,10000000000000000"),
}  # fmt: skip


@pytest.mark.parametrize("backtrace", [None, "1"])
@pytest.mark.parametrize("kind", sorted(NESTED_DATES))
def test_a_nested_parquet_date_past_the_calendar_rejects_only_its_row_with_nothing_on_stderr(tmp_path, kind, backtrace):
    values, number, shown = NESTED_DATES[kind]
    path = tmp_path / "nested.parquet"
    pq.write_table(pa.table({"ticket id": ["T1", "T2"], "created at": ["2026-09-01 09:00"] * 2, "ts": values}), path)
    db = tmp_path / "w.duckdb"
    env = {k: v for k, v in os.environ.items() if k != "RUST_BACKTRACE"}  # the environment may set it
    env |= {"RUST_BACKTRACE": backtrace} if backtrace else {}
    cli = [sys.executable, "-m", "cli.main", "ingest", str(path), "--kind", "tickets", "--tz", "UTC"]
    done = subprocess.run(
        [*cli, "--db", str(db), "--json"], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300
    )
    assert (done.returncode, done.stderr) == (0, "")  # no panic lines from Polars
    summary = json.loads(done.stdout)
    assert (summary["rows_read"], summary["rows_loaded"], summary["rows_rejected"]) == (2, 1, 1)
    with duckdb.connect(str(db)) as con:
        ((line, reason, raw),) = con.sql("SELECT line_number, reason, raw_record FROM rejected_rows").fetchall()
        loaded = con.sql("SELECT ticket_id FROM tickets").fetchall()
    # Parquet keeps seconds as milliseconds: the value is shown as the file stores it.
    assert (line, reason, loaded) == (1, f"ts '{number}' (ms from 1970) is outside years 1-9999", [("T2",)])
    record = json.loads(raw)
    assert (record["ticket id"], record["ts"]) == ("T1", shown)


SPACE_LINE = {"ticket id": ["T1", "T2"], "created at": ["2026-09-01 09:00", "not a date"], " __line": ["a", "b"]}


@pytest.mark.parametrize("name", ["space.parquet", "space.json", "space.jsonl", "space.csv"])
def test_a_source_column_named_like_the_line_column_after_a_space_is_kept(con, tmp_path, name):
    path = tmp_path / name
    records = [dict(zip(SPACE_LINE, row, strict=True)) for row in zip(*SPACE_LINE.values(), strict=True)]
    if name.endswith(".parquet"):
        pq.write_table(pa.table(SPACE_LINE), path)
    elif name.endswith(".csv"):
        path.write_text(
            "\n".join(",".join(r) for r in [list(SPACE_LINE), *map(list, map(dict.values, records))]) + "\n"
        )
    else:
        path.write_text(json.dumps(records) if name.endswith(".json") else "\n".join(map(json.dumps, records)) + "\n")
    result = ingest_file(con, path, "tickets", source_tz="UTC")
    assert (result.rows_read, result.rows_loaded, result.rows_rejected) == (2, 1, 1)
    assert json.loads(con.sql("SELECT attributes FROM tickets").fetchall()[0][0]) == {"__line": "a"}
    raw = con.sql("SELECT raw_record FROM rejected_rows").fetchall()[0][0]
    assert json.loads(raw) == {"ticket id": "T2", "created at": "not a date", "__line": "b"}


BAD_SETTINGS = [
    ("CSAT_RADAR_MAX_FIELD_MB", "abc", "a number above 0"),
    ("CSAT_RADAR_MAX_FIELD_MB", "-1", "a number above 0"),
    ("CSAT_RADAR_STREAM_MB", "x", "a number of 0 or more"),
    ("CSAT_RADAR_MAX_NESTING", "abc", "a whole number above 0"),
    ("CSAT_RADAR_MAX_NESTING", "2.5", "a whole number above 0"),
    ("CSAT_RADAR_MAX_UPLOAD_MB", "inf", "a number above 0"),
    ("CSAT_RADAR_MAX_EXCEL_MB", "0", "a number above 0"),
    ("CSAT_RADAR_MAX_DURATION_DAYS", "-5", "a whole number above 0"),
]


@pytest.mark.parametrize(("env", "value", "must_be"), BAD_SETTINGS)
def test_a_bad_limit_setting_is_refused_in_one_line_naming_the_variable(tmp_path, env, value, must_be):
    path = tmp_path / "fine.jsonl"
    path.write_text(RECORD % "1" + "\n")
    db = tmp_path / "w.duckdb"
    done = run_cli("ingest", str(path), "--kind", "tickets", "--tz", "UTC", "--db", str(db), env={env: value})
    assert (done.returncode, done.stderr, done.stdout) == (
        2,
        f"csat-radar: fine.jsonl: {env} '{value}' is not {must_be}\n",
        "",
    )
    assert _batches(db) == 0


@pytest.mark.parametrize(("env", "value", "must_be"), BAD_SETTINGS[:1])
def test_the_upload_page_s_preview_refuses_a_bad_limit_setting_in_one_line(monkeypatch, env, value, must_be):
    monkeypatch.setenv(env, value)
    with pytest.raises(IngestError) as refused:
        preview_file((RECORD % "1" + "\n").encode(), "tickets", "fine.jsonl")
    assert str(refused.value) == f"fine.jsonl: {env} '{value}' is not {must_be}"


def _json_with_long_string(path: Path, megabytes: float) -> None:
    records = [{"ticket id": "T1", "created at": "2026-09-01 09:00", "note": "x" * int(megabytes * 1024 * 1024)},
               {"ticket id": "T2", "created at": "2026-09-01 09:00", "note": "short"}]  # fmt: skip
    path.write_text(json.dumps(records))


def _workbook_with_long_cell(path: Path, megabytes: float) -> None:
    """A workbook whose note cell holds ``megabytes`` of text: Excel stops at 32,767 characters, an export may not."""
    import io
    import zipfile

    import xlsxwriter

    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer)
    sheet = workbook.add_worksheet()
    for row, values in enumerate([["ticket id", "created at", "note"], ["T1", "2026-09-01 09:00", "PLACEHOLDER"],
                                  ["T2", "2026-09-01 09:00", "short"]]):  # fmt: skip
        sheet.write_row(row, 0, values)
    workbook.close()
    with zipfile.ZipFile(buffer) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for entry in source.infolist():
            data = source.read(entry)
            long = b"x" * int(megabytes * 1024 * 1024)
            target.writestr(
                entry.filename, data.replace(b"PLACEHOLDER", long) if "sharedStrings" in entry.filename else data
            )


LONG_VALUE = {"long.json": _json_with_long_string, "long.xlsx": _workbook_with_long_cell}


@pytest.mark.parametrize("name", sorted(LONG_VALUE))
def test_a_json_string_or_excel_cell_over_the_field_limit_is_refused_in_one_line(tmp_path, name):
    path = tmp_path / name
    LONG_VALUE[name](path, 3)
    db = tmp_path / "w.duckdb"
    env = {"CSAT_RADAR_MAX_FIELD_MB": "1"}
    done = run_cli("ingest", str(path), "--kind", "tickets", "--tz", "UTC", "--db", str(db), env=env)
    problem = {
        "long.json": "cannot read as json: a string longer than 1 MB (the limit, CSAT_RADAR_MAX_FIELD_MB)",
        "long.xlsx": "the workbook holds a cell longer than 1 MB (the limit, CSAT_RADAR_MAX_FIELD_MB); refused unread",
    }[name]
    assert (done.returncode, done.stderr, done.stdout) == (2, f"csat-radar: {name}: {problem}\n", "")
    assert _batches(db) == 0


@pytest.mark.parametrize("name", sorted(LONG_VALUE))
def test_a_json_string_or_excel_cell_under_the_field_limit_loads_whole(con, tmp_path, monkeypatch, name):
    monkeypatch.setenv("CSAT_RADAR_MAX_FIELD_MB", "1")
    path = tmp_path / name
    LONG_VALUE[name](path, 0.9)
    result = ingest_file(con, path, "tickets", source_tz="UTC")
    assert (result.rows_read, result.rows_loaded) == (2, 2)
    notes = con.sql("SELECT json_extract_string(attributes, '$.note') FROM tickets ORDER BY ticket_id").fetchall()
    assert [len(note) for (note,) in notes] == [int(0.9 * 1024 * 1024), 5]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])  # Python's utf-16 writes a little-endian mark
@pytest.mark.parametrize("name", ["u16.json", "u16.jsonl"])
def test_utf16_json_with_a_byte_order_mark_is_read_as_json(con, tmp_path, name, encoding):
    records = [{"ticket id": "T1", "created at": "2026-09-01 09:00", "note": "été 中文"},
               {"ticket id": "T2", "created at": "2026-09-01 10:00", "note": "b"}]  # fmt: skip
    text = (
        json.dumps(records, ensure_ascii=False)
        if name.endswith(".json")
        else "\n".join(json.dumps(r, ensure_ascii=False) for r in records)
    )
    path = tmp_path / name
    path.write_bytes((b"\xfe\xff" if encoding == "utf-16-be" else b"") + text.encode(encoding))
    result = ingest_file(con, path, "tickets", source_tz="UTC")
    assert (result.file_format, result.rows_read, result.rows_loaded) == (name.split(".")[1], 2, 2)
    notes = con.sql("SELECT ticket_id, json_extract_string(attributes, '$.note') FROM tickets ORDER BY 1").fetchall()
    assert notes == [("T1", "été 中文"), ("T2", "b")]


def test_utf16_json_lines_nested_hundreds_deep_is_refused_in_one_line(tmp_path):
    path = tmp_path / "deep16.jsonl"
    path.write_bytes((RECORD % _nested(600) + "\n").encode("utf-16"))
    with pytest.raises(IngestError) as refused:
        preview_file(path.read_bytes(), "tickets", "deep16.jsonl")
    assert str(refused.value) == "deep16.jsonl: " + REFUSAL.format("jsonl", "601")
