-- A crisis lifecycle a list can trust (issue 20). Grain: still one row per crisis.
-- raised_at: the data's moment the radar could first report the crisis (the end of the period it was
--   raised in); the clock of escalation runs from it, on the data's time, never the wall clock.
-- escalated_at: the scan's as-of when the crisis escalated for want of an acknowledgement (once only).
-- status_before_recovery: the status a crisis had when the radar set it "recovered" (back inside limits,
--   awaiting a person's confirmation); a new flag before that confirmation returns it there.
ALTER TABLE crises ADD COLUMN raised_at TIMESTAMPTZ;
ALTER TABLE crises ADD COLUMN escalated_at TIMESTAMPTZ;
ALTER TABLE crises ADD COLUMN status_before_recovery VARCHAR;
-- Crises logged before this column were raised, at the latest, once their first period was complete.
UPDATE crises SET raised_at = CASE WHEN grain = 'week' THEN start_period + INTERVAL 7 DAY
                                   ELSE start_period + INTERVAL 1 DAY END::TIMESTAMP AT TIME ZONE 'UTC';
-- A recovery already proposed moves off the open list now, as it would have if proposed today.
UPDATE crises SET status_before_recovery = status, status = 'recovered'
 WHERE recovery_proposed_at IS NOT NULL AND end_period IS NULL
   AND status IN ('detected', 'acknowledged', 'response_plan_active', 'resolving');
