-- Canonical tables without a primary-key index: at ten million tickets the index doubled the
-- time of a load and held hundreds of MB. Each key stays unique: pipelines/load.py replaces a
-- changed row by deleting its old version first. Grain unchanged (one row per key).
-- row_hash is recomputed by pipelines/load.py (rehash) with the hash of the engine in use.
CREATE TABLE tickets_v5 AS SELECT * FROM tickets;
DROP TABLE tickets;
ALTER TABLE tickets_v5 RENAME TO tickets;
ALTER TABLE tickets ALTER COLUMN ticket_id SET NOT NULL;
ALTER TABLE tickets ALTER COLUMN created_at SET NOT NULL;
ALTER TABLE tickets ALTER COLUMN row_hash SET NOT NULL;
ALTER TABLE tickets ALTER COLUMN batch_id SET NOT NULL;

CREATE TABLE survey_responses_v5 AS SELECT * FROM survey_responses;
DROP TABLE survey_responses;
ALTER TABLE survey_responses_v5 RENAME TO survey_responses;
ALTER TABLE survey_responses ALTER COLUMN response_id SET NOT NULL;
ALTER TABLE survey_responses ALTER COLUMN responded_at SET NOT NULL;
ALTER TABLE survey_responses ALTER COLUMN survey_type SET NOT NULL;
ALTER TABLE survey_responses ALTER COLUMN score SET NOT NULL;
ALTER TABLE survey_responses ALTER COLUMN scale SET NOT NULL;
ALTER TABLE survey_responses ALTER COLUMN is_satisfied SET NOT NULL;
ALTER TABLE survey_responses ALTER COLUMN row_hash SET NOT NULL;
ALTER TABLE survey_responses ALTER COLUMN batch_id SET NOT NULL;

CREATE TABLE complaints_v5 AS SELECT * FROM complaints;
DROP TABLE complaints;
ALTER TABLE complaints_v5 RENAME TO complaints;
ALTER TABLE complaints ALTER COLUMN complaint_id SET NOT NULL;
ALTER TABLE complaints ALTER COLUMN created_at SET NOT NULL;
ALTER TABLE complaints ALTER COLUMN row_hash SET NOT NULL;
ALTER TABLE complaints ALTER COLUMN batch_id SET NOT NULL;

CREATE TABLE order_counts_v5 AS SELECT * FROM order_counts;
DROP TABLE order_counts;
ALTER TABLE order_counts_v5 RENAME TO order_counts;
ALTER TABLE order_counts ALTER COLUMN order_count_id SET NOT NULL;
ALTER TABLE order_counts ALTER COLUMN created_at SET NOT NULL;
ALTER TABLE order_counts ALTER COLUMN orders SET NOT NULL;
ALTER TABLE order_counts ALTER COLUMN row_hash SET NOT NULL;
ALTER TABLE order_counts ALTER COLUMN batch_id SET NOT NULL;

-- Facts about the warehouse file itself, such as which engine computed its row hashes.
CREATE TABLE warehouse_meta (key VARCHAR NOT NULL, value VARCHAR);
