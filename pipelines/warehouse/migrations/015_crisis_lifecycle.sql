-- A crisis lifecycle a list can trust (issue 20). Grain: still one row per crisis.
-- raised_at: the data's as-of of the scan that first logged the crisis, when people could first see it;
--   the clock of escalation runs from it, on the data's time, never the wall clock. Not the end of the
--   period the crisis was flagged in: an export that arrives a week late (or a history loaded at once)
--   would otherwise bring crises already "not acknowledged in time" that nobody could have acknowledged.
-- escalated_at: the scan's as-of when the crisis escalated for want of an acknowledgement (once only).
-- status_before_recovery: the status a crisis had when the radar set it "recovered" (back inside limits,
--   awaiting a person's confirmation); a new flag before that confirmation returns it there.
ALTER TABLE crises ADD COLUMN raised_at TIMESTAMPTZ;
ALTER TABLE crises ADD COLUMN escalated_at TIMESTAMPTZ;
ALTER TABLE crises ADD COLUMN status_before_recovery VARCHAR;
-- Crises logged before this column: when they were logged, but no later than the end of their latest
-- flagged period (logs from before the data's clock stamped the wall clock, which may lie past the data).
UPDATE crises SET raised_at = least(created_at, (CASE WHEN grain = 'week' THEN last_flagged + INTERVAL 7 DAY
                                   ELSE last_flagged + INTERVAL 1 DAY END)::TIMESTAMP AT TIME ZONE 'UTC');
-- A recovery already proposed moves off the open list now, as it would have if proposed today.
UPDATE crises SET status_before_recovery = status, status = 'recovered'
 WHERE recovery_proposed_at IS NOT NULL AND end_period IS NULL
   AND status IN ('detected', 'acknowledged', 'response_plan_active', 'resolving');
