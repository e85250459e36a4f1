-- How many of a batch's accepted rows had no id and were keyed by their content
-- (pipelines/stage/derived_keys.py: "derived:<16 hex>"). Grain of batches unchanged (one row per file).
-- Numbered 012, not 011: the data's-own-clock change of issue 19 takes 011 for the batch's as-of.
ALTER TABLE batches ADD COLUMN keys_derived BIGINT DEFAULT 0;
