-- Earlier versions of rows a batch replaced, so a batch can be undone exactly.
-- Grain: one row per replaced version: the row as it was, plus replaced_by, the batch that replaced it.
CREATE TABLE tickets_history AS SELECT *, NULL::BIGINT AS replaced_by FROM tickets LIMIT 0;
CREATE TABLE survey_responses_history AS SELECT *, NULL::BIGINT AS replaced_by FROM survey_responses LIMIT 0;
CREATE TABLE complaints_history AS SELECT *, NULL::BIGINT AS replaced_by FROM complaints LIMIT 0;
CREATE TABLE order_counts_history AS SELECT *, NULL::BIGINT AS replaced_by FROM order_counts LIMIT 0;
