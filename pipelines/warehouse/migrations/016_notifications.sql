-- Notifications of crisis events (issue 20): which message went to which destination, so each event is
-- told once per destination, a failed delivery is retried on the next run, and a destination added later
-- is not sent the whole history of the log.
-- Grain: notification_destinations = one row per destination ever configured (an e-mail list or a
-- webhook, by the name metrics.notify.config gives it; never a URL's secret path or a password);
-- notification_outbox = one row per crisis event and destination that qualified for a message.
CREATE TABLE notification_destinations (
    destination    VARCHAR PRIMARY KEY,   -- "e-mail to ops@example.com", "webhook slack hooks.slack.com"
    from_event_id  BIGINT NOT NULL,       -- events after this one are its to tell: the log as it stood when first configured
    added_at       TIMESTAMPTZ NOT NULL   -- wall clock, for the record only
);

CREATE TABLE notification_outbox (
    event_id     BIGINT NOT NULL,         -- the crisis_events row told
    destination  VARCHAR NOT NULL,
    crisis_id    BIGINT NOT NULL,
    severity     VARCHAR NOT NULL,        -- the event's severity, by which it qualified (metrics.notify.outbox)
    status       VARCHAR NOT NULL,        -- pending, sent, failed (retried on the next run), gave_up
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   VARCHAR,                 -- the one-line reason of the last failed attempt
    subject      VARCHAR,
    queued_at    TIMESTAMPTZ NOT NULL,    -- wall clock
    sent_at      TIMESTAMPTZ,             -- wall clock
    PRIMARY KEY (event_id, destination)
);
