#!/usr/bin/env bash
# Shows that a change of structure changed no answer: runs the same commands on the same
# demo warehouse with the code of BASE (default: main's merge base) and with the working
# tree, and diffs every output byte for byte. Both sides run at the same moment, because
# some answers depend on the moment of asking (the period in progress).
#   tools/same_answers.sh [BASE]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
base=${1:-$(git -C "$here" merge-base HEAD main)}
main_tree=$(git -C "$here" worktree list --porcelain | sed -n '1s/^worktree //p')
py=${PYTHON:-$( [ -x "$here/.venv/bin/python" ] && echo "$here/.venv/bin/python" || echo "$main_tree/.venv/bin/python")}
work=$(mktemp -d)
trap 'git -C "$here" worktree remove --force "$work/base" >/dev/null 2>&1 || true; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
git -C "$here" worktree add --detach "$work/base" "$base" >/dev/null 2>&1
export TZ=UTC CSAT_RADAR_CONFIG_DIR="$work/config"
# Older revisions let DuckDB draw its progress bar on standard output when a query ran long
# (a loaded machine): both sides get it switched off, so only answers are compared.
mkdir -p "$work/site"
cat > "$work/site/sitecustomize.py" <<'PY'
import duckdb
_connect = duckdb.connect
def connect(*args, **kwargs):
    con = _connect(*args, **kwargs)
    con.execute("SET enable_progress_bar = false")
    return con
duckdb.connect = connect
PY
# The demo ends on 2026-11-15; later periods (the backlog up to today) move with the wall clock.
until=2026-11-15

answers() {  # answers SOURCE_TREE OUT_DIR
    local tree=$1 out=$2 entry
    mkdir -p "$out"
    entry=$(cd "$tree" && "$py" -c 'import tomllib; print(tomllib.load(open("pyproject.toml","rb"))["project"]["scripts"]["csat-radar"])')
    run() { (cd "$out" && PYTHONPATH="$tree:$work/site" "$py" -c "import sys; from ${entry%%:*} import ${entry##*:} as m; sys.exit(m())" "$@"); }
    cp "$work/demo.duckdb" "$out/demo.duckdb"
    local db=(--db "$out/demo.duckdb")
    run kpis "${db[@]}" --json --to "$until" > "$out/kpis-week.json"
    run kpis "${db[@]}" --json --grain month --by team --to "$until" > "$out/kpis-month-team.json"
    run kpis "${db[@]}" --json --grain quarter --by channel --explain --to 2026-09-30 > "$out/kpis-quarter-channel.json"
    run kpis "${db[@]}" --csv --grain day --from 2026-01-01 --to 2026-02-15 > "$out/kpis-day.csv"
    run kpis "${db[@]}" --grain month --to "$until" > "$out/kpis-month.txt"
    run kpis "${db[@]}" --grain week --metric csat --filter channel=email > "$out/kpis-csat-email.txt"
    run crises "${db[@]}" --json --since 2000-01-01 > "$out/crises.json"
    run crises "${db[@]}" --since 2000-01-01 > "$out/crises.txt"
    run crises "${db[@]}" --json --grain day --since 2000-01-01 > "$out/crises-day.json"
    run report "${db[@]}" --out "$out/review.html" > /dev/null
    run report "${db[@]}" --out "$out/review.xlsx" > /dev/null
    run status "${db[@]}" --json > "$out/status.json"
    # The moment a report was made is the one line that may differ; a workbook is a zip
    # whose members carry their own times, so its sheets are compared unpacked.
    sed -i -E 's/[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}(:[0-9]{2})?( UTC)?/<moment>/g' "$out/review.html"
    (cd "$out" && mkdir xlsx && cd xlsx && unzip -q ../review.xlsx 'xl/worksheets/*' 'xl/sharedStrings.xml' 2>/dev/null || true)
    rm -f "$out/review.xlsx" "$out/demo.duckdb" "$out"/demo.duckdb.*
    # Sums of floats are added in parallel in no fixed order, so the last bits of a float in the
    # JSON (a q-value, a mean) can change from one run of the same code to the next: JSON floats
    # are compared to 10 significant digits, everything else (every shown number) byte for byte.
    "$py" - "$out" <<'PY'
import json, pathlib, sys
def rounded(v):
    if isinstance(v, float):
        return float(f"{v:.10g}")
    if isinstance(v, list):
        return [rounded(x) for x in v]
    if isinstance(v, dict):
        return {k: rounded(x) for k, x in v.items()}
    return v
for path in pathlib.Path(sys.argv[1]).glob("*.json"):
    path.write_text(json.dumps(rounded(json.loads(path.read_text())), ensure_ascii=False, indent=1))
PY
}

entry=$(cd "$work/base" && "$py" -c 'import tomllib; print(tomllib.load(open("pyproject.toml","rb"))["project"]["scripts"]["csat-radar"])')
(cd "$work" && PYTHONPATH="$work/base:$work/site" "$py" -c "import sys; from ${entry%%:*} import ${entry##*:} as m; sys.exit(m())" \
    demo --db "$work/demo.duckdb" > /dev/null)
answers "$work/base" "$work/before"
answers "$here" "$work/after"
# The demo itself must come out the same from the working tree's generator.
entry_now=$(cd "$here" && "$py" -c 'import tomllib; print(tomllib.load(open("pyproject.toml","rb"))["project"]["scripts"]["csat-radar"])')
(cd "$work" && PYTHONPATH="$here:$work/site" "$py" -c "import sys; from ${entry_now%%:*} import ${entry_now##*:} as m; sys.exit(m())" \
    demo --db "$work/own.duckdb" > /dev/null)
cp "$work/own.duckdb" "$work/demo.duckdb"
answers "$here" "$work/own"
if ! diff -rq "$work/before" "$work/own" > /dev/null; then
    echo "the working tree's demo warehouse answers differently from the one $base builds" >&2
    diff -rq "$work/before" "$work/own" >&2
    exit 1
fi
if diff -rq "$work/before" "$work/after"; then
    echo "same answers: $(find "$work/after" -type f | wc -l) outputs of $base and the working tree are byte-identical, on the demo either one builds"
else
    echo "answers differ between $base and the working tree" >&2
    exit 1
fi
