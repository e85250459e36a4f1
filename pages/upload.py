"""Upload (analysts): preview how an export will be read and mapped, load it, and see what was rejected and why."""

from __future__ import annotations

import polars as pl
import streamlit as st

from metrics.kpis.marts import load_export, undo_export
from metrics.views.history import after_load
from metrics.views.summary import rejected_rows
from pages._frame.display import table
from pages._frame.entry import enter
from pages._frame.language import page_title, t
from pages._frame.questions import batch_history, read
from pages._frame.signin import current_actor, write
from pipelines.common.errors import IngestError
from pipelines.ingest import local_timezone, preview_file
from pipelines.read.workbook import workbook_tables
from pipelines.signin import access
from pipelines.stage.overrides import parse_column_overrides
from pipelines.stage.personal import mask
from pipelines.stage.profiles import builtin_profiles
from pipelines.stage.scales import SCALES
from pipelines.warehouse.schema import KINDS

enter()  # the gate and the navigation first, however this page was reached
st.title(page_title("upload"))
actor = current_actor()
st.caption(t("CSV, TSV, Excel, Parquet, JSON or JSON Lines; UTF-8, UTF-16 or GBK. Nothing is written until you load."))
if not actor.may("upload"):
    st.info(t("Your role reads the batch history; loading and undoing are for analysts."))
elif not access.allowed(actor, "upload"):
    st.info(t("Loading and undoing write rows of every segment: they are for users not limited to segments."))

kind = st.radio(t("These files hold"), KINDS, horizontal=True, key="upload_kind")
may_load = access.allowed(actor, "upload")
files = st.file_uploader(t("Exports"), accept_multiple_files=True, key="upload_files") if may_load else []
zone = st.text_input(t("Time zone of the timestamps (when the file does not say)"), value=local_timezone(),
                     key="upload_tz")  # fmt: skip
profiles = ["(detect)", *sorted(builtin_profiles())]

plans = []
for number, uploaded in enumerate(files or []):
    data = uploaded.getvalue()
    with st.expander(f"{uploaded.name}: preview", expanded=True):
        profile = st.selectbox(t("Profile"), profiles, key=f"profile_{number}_{uploaded.name}")
        mapping_text = st.text_input(
            t("Column overrides (canonical=Source header, comma-separated)"), key=f"map_{number}_{uploaded.name}"
        )
        try:  # the command line's --map parser: a bad pair is refused here too, not dropped
            mapping = parse_column_overrides([p.strip() for p in mapping_text.split(",") if p.strip()]) or None
        except IngestError as exc:
            st.error(f"{uploaded.name}: column overrides: {exc.problem}")
            continue
        sheet = None
        if uploaded.name.lower().endswith((".xlsx", ".xlsm")):
            try:
                sheets = workbook_tables(uploaded.name, data)
            except IngestError:  # the preview below says why, in one line
                sheets = []
            if len(sheets) > 1:
                sheet = st.selectbox(t("Sheet"), sheets, key=f"sheet_{number}_{uploaded.name}")
        scale = None
        if kind == "surveys":
            scale = st.selectbox(
                t("Scale of the scores"), [t("(from the file)"), *SCALES], key=f"scale_{number}_{uploaded.name}"
            )
            scale = scale if scale in SCALES else None
        try:
            preview = preview_file(data, kind, uploaded.name, None if profile == "(detect)" else profile, mapping, zone,
                                   sheet=sheet, scale=scale)  # fmt: skip
        except IngestError as exc:
            st.error(str(exc))
            continue
        st.markdown(
            f"Read as **{preview.file_format}**, encoding **{preview.encoding}**, profile **{preview.profile}**: "
            f"{preview.rows_read:,} rows, {preview.rows_valid:,} valid, "
            f"{preview.rows_read - preview.rows_valid:,} would be rejected."
        )
        st.dataframe(
            pl.DataFrame(
                {"column": list(preview.mapping), "from source": [", ".join(v) for v in preview.mapping.values()]}
            ),
            hide_index=True,
        )
        if preview.unmapped:
            st.caption(t("Kept as extra attributes: ") + ", ".join(preview.unmapped))
        if preview.rejections:
            st.caption(t("Would be rejected: ") + "; ".join(f"{r} ({n})" for r, n in preview.rejections.items()))
        st.dataframe(mask(preview.head.drop("attributes", strict=False)), hide_index=True, width="stretch")
        plans.append((uploaded.name, data, None if profile == "(detect)" else profile, mapping, sheet, scale))

if plans and st.button(f"Load {len(plans)} file(s)", type="primary"):
    progress = st.progress(0.0, text="Loading…")
    results = []
    for done, (name, data, profile, mapping, sheet, scale) in enumerate(plans, start=1):
        progress.progress((done - 1) / len(plans), text=f"Loading {name}…")
        try:
            result = write("upload", load_export, data, kind, file_name=name, profile=profile, mapping=mapping,
                           source_tz=zone, loaded_by=actor.name, on_wait=st.info, sheet=sheet, scale=scale,
                           target=name if sheet is None else f"{name} [{sheet}]")  # fmt: skip
        except IngestError as exc:
            st.error(str(exc))
            continue
        results.append(result)
    write("history_scan", after_load, target="crisis log")  # a first load of years: its past crises in the log
    progress.progress(1.0, text="Done")
    for result in results:
        st.success(
            f"{result.file}: {result.rows_read:,} rows read: {result.rows_loaded:,} loaded, {result.rows_updated:,} "
            f"updated, {result.rows_duplicate:,} duplicate, {result.rows_rejected:,} rejected "
            f"(batch {result.batch_id})."
        )
        if result.rejections:
            st.markdown("Rejected by reason: " + "; ".join(f"{r}: {n}" for r, n in result.rejections.items()))
            rejected = read(rejected_rows, result.batch_id)
            table(rejected, f"rejected rows batch {result.batch_id}", key=f"rejected_{result.batch_id}")

st.subheader(t("Batch history"))
batches = batch_history()
if batches.is_empty():
    st.caption(t("No file has been loaded yet."))
else:
    table(batches, "batches", key="batches")
    undoable = batches.filter(pl.col("status") == "loaded")
    if not undoable.is_empty() and access.allowed(actor, "undo"):
        choices = dict(zip(undoable["batch_id"], undoable["file_name"], strict=True))
        left, right = st.columns([3, 1])
        batch = left.selectbox(t("Undo a batch"), list(choices), format_func=lambda b: f"#{b} {choices[b]}",
                               key="undo_batch")  # fmt: skip
        if right.button(t("Undo batch"), key="undo_button"):
            try:
                outcome = write("undo", undo_export, int(batch), on_wait=st.info, target=f"batch {batch}")
            except IngestError as exc:
                st.error(str(exc))
            else:
                st.success(
                    f"Batch {batch} undone: {outcome['removed']:,} rows it added removed, "
                    f"{outcome['restored']:,} rows it replaced restored."
                )
