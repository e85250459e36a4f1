"""Upload (analysts): map an export's columns, preview how it will be read, load it, and see what was rejected and why.

Each file gets the column mapper: every field of the chosen kind with a drop-down of the file's
own columns, pre-filled from the profile (a saved one first) or the guess, with the reason. The
user's changes are the load's overrides; the columns confirmed can be saved as a named profile,
which reads the next file with those headers with no questions.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl
import streamlit as st

from metrics.kpis.marts import load_export, undo_export
from metrics.views.history import after_load, history_unscanned
from metrics.views.summary import load_outcome, rejected_rows
from pages._frame.display import table
from pages._frame.entry import enter
from pages._frame.language import page_title, t
from pages._frame.questions import batch_history, read
from pages._frame.signin import current_actor, write
from pipelines.common.errors import ChoiceNeeded, IngestError
from pipelines.ingest import local_timezone, preview_file
from pipelines.read.export import read_export
from pipelines.read.workbook import workbook_tables
from pipelines.signin import access
from pipelines.stage.mapper import ColumnChoices, column_choices
from pipelines.stage.personal import mask
from pipelines.stage.profiles import builtin_profiles
from pipelines.stage.saved_profiles import detect_profile, saved_profiles
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


@dataclass(frozen=True)
class Plan:
    """One previewed file, as it will be loaded."""

    name: str
    data: bytes
    profile: str | None
    mapping: dict[str, str] | None
    zone: str | None  # None: the box left at this machine's zone, so a saved profile's own zone applies
    sheet: str | None
    scale: str | None
    save_as: str | None


def column_mapper(choices: ColumnChoices, prefix: str) -> dict[str, str]:
    """A drop-down of the file's columns for every field, pre-filled with the proposal; the choices made."""

    def shown(header: str) -> str:
        if not header:
            return t("(none)")
        examples = ", ".join(choices.samples.get(header, ()))
        return f"{header} (e.g. {examples})" if examples else header

    st.caption(t("Columns: which of the file's columns holds each field (required ones first)."))
    chosen = {}
    for field in choices.fields:
        extra = [field.choice] if field.choice not in ("", *choices.headers) else []  # two columns joined
        options = ["", *choices.headers, *extra]
        left, right = st.columns([2, 3])
        label = f"{field.column} ({t(field.need)})" if field.need else field.column
        chosen[field.column] = left.selectbox(label, options, index=options.index(field.choice), format_func=shown,
                                              help=field.description, key=f"{prefix}_{field.column}")  # fmt: skip
        if field.why and (chosen[field.column] == field.choice or not field.proposed):
            right.caption(field.why)
    return chosen


kind = st.radio(t("These files hold"), KINDS, format_func=t, horizontal=True, key="upload_kind")
may_load = access.allowed(actor, "upload")
files = st.file_uploader(t("Exports"), accept_multiple_files=True, key="upload_files") if may_load else []
zone = st.text_input(t("Time zone of the timestamps (when the file does not say)"), value=local_timezone(),
                     key="upload_tz")  # fmt: skip
# Left at its default, the box says nothing: the load's own rule then applies (a saved profile's zone, else this one).
asked_zone = None if zone == local_timezone() else zone
saved = read(saved_profiles) if files else {}
profiles = ["(detect)", *sorted(builtin_profiles()), *(name for name, s in saved.items() if s.kind == kind)]

plans = []
for number, uploaded in enumerate(files or []):
    data, prefix = uploaded.getvalue(), f"{number}_{uploaded.name}"
    with st.expander(f"{uploaded.name}: preview", expanded=True):
        profile = st.selectbox(t("Profile"), profiles, key=f"profile_{prefix}",
                               format_func=lambda p: f"{p} ({t('saved')})" if p in saved else p)  # fmt: skip
        profile = None if profile == "(detect)" else profile
        sheet = None
        if uploaded.name.lower().endswith((".xlsx", ".xlsm")):
            try:
                sheets = workbook_tables(uploaded.name, data)
            except IngestError:  # the preview below says why, in one line
                sheets = []
            if len(sheets) > 1:
                sheet = st.selectbox(t("Sheet"), sheets, key=f"sheet_{prefix}")
        scale = None
        if kind == "surveys":
            scale = st.selectbox(t("Scale of the scores"), [t("(from the file)"), *SCALES], key=f"scale_{prefix}")
            scale = scale if scale in SCALES else None
        try:
            raw = read_export(data, uploaded.name, sheet)
            detected = detect_profile(kind, raw.source_columns, uploaded.name, profile, saved)
        except IngestError as exc:
            st.error(str(exc))
            continue
        choices = column_choices(raw, kind, detected)
        chosen = column_mapper(choices, f"map_{prefix}_{kind}_{detected.name}")
        missing = choices.missing(chosen)
        if missing:
            st.warning(f"{uploaded.name}: " + t("no column for") + f" {', '.join(missing)}; " + t("choose one above."))
            continue
        mapping = choices.overrides(chosen) or None
        try:
            preview = preview_file(raw, kind, uploaded.name, profile, mapping, asked_zone, sheet=sheet, scale=scale,
                                   saved=saved)  # fmt: skip
        except IngestError as exc:
            st.error(str(exc))
            if isinstance(exc, ChoiceNeeded):  # the page's own words for it: its boxes above
                st.caption(t("Choose its column in the lists above." if exc.choice == "column" else
                             "Choose it in the box above."))  # fmt: skip
            continue
        st.markdown(
            t(
                "Read as **{format}**, encoding **{encoding}**, profile **{profile}**: {rows} rows, {valid} valid, "
                "{rejected} would be rejected."
            ).format(
                format=preview.file_format,
                encoding=preview.encoding,
                profile=preview.profile,
                rows=f"{preview.rows_read:,}",
                valid=f"{preview.rows_valid:,}",
                rejected=f"{preview.rows_read - preview.rows_valid:,}",
            )
        )
        if preview.unmapped:
            st.caption(t("Kept as extra attributes: ") + ", ".join(preview.unmapped))
        if preview.rejections:
            st.caption(t("Would be rejected: ") + "; ".join(f"{r} ({n})" for r, n in preview.rejections.items()))
        st.dataframe(mask(preview.head.drop("attributes", strict=False)), hide_index=True, width="stretch")
        save_as = st.text_input(
            t("Save these columns as a profile named (optional)"),
            key=f"save_{prefix}",
            help=t("The next file with the same headers is then read with them, unasked."),
        )
        plans.append(Plan(uploaded.name, data, profile, mapping, asked_zone, sheet, scale, save_as.strip() or None))

if plans and st.button(t("Load {n} file(s)").format(n=len(plans)), type="primary"):
    progress = st.progress(0.0, text=t("Loading…"))
    results = []
    for done, plan in enumerate(plans, start=1):
        progress.progress((done - 1) / len(plans), text=t("Loading {name}…").format(name=plan.name))
        try:
            result = write("upload", load_export, plan.data, kind, file_name=plan.name, profile=plan.profile,
                           mapping=plan.mapping, source_tz=plan.zone, loaded_by=actor.name, on_wait=st.info,
                           sheet=plan.sheet, scale=plan.scale, save_profile=plan.save_as,
                           target=plan.name if plan.sheet is None else f"{plan.name} [{plan.sheet}]")  # fmt: skip
        except IngestError as exc:
            st.error(str(exc))
            continue
        results.append(result)
        if plan.save_as:
            st.info(t("Columns saved as profile") + f" {plan.save_as}.")
    if read(history_unscanned):  # a first load of years: its past crises in the log, scanned once
        write("history_scan", after_load, target="crisis log")
    progress.progress(1.0, text=t("Done"))
    for result in results:
        st.success(load_outcome(result))
        if result.rejections:
            st.markdown(t("Rejected by reason: ") + "; ".join(f"{r}: {n}" for r, n in result.rejections.items()))
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
                    t(
                        "Batch {batch} undone: {removed} rows it added removed, {restored} rows it replaced restored."
                    ).format(batch=batch, removed=f"{outcome['removed']:,}", restored=f"{outcome['restored']:,}")
                )
