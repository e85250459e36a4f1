-- Who may use the dashboard when sign-in is on, and what everyone did (pipelines/access.py).
-- Grain: app_users = one row per user (a password user, or an identity-provider e-mail mapped
-- onto a role); audit_log = one row per action taken or refused, and per sign-in attempt.
CREATE SEQUENCE audit_id_seq START 1;

CREATE TABLE app_users (
    username       VARCHAR PRIMARY KEY,   -- a sign-in name, or the e-mail an identity provider vouches for
    password_hash  VARCHAR,               -- argon2id, salted; null for identity-provider users
    role           VARCHAR NOT NULL,      -- one of the roles in pipelines/access.toml
    segments       JSON,                  -- {"team": ["Billing"]}: the only segments this user sees; null = all
    disabled       BOOLEAN NOT NULL DEFAULT false,
    created_at     TIMESTAMPTZ NOT NULL,
    created_by     VARCHAR NOT NULL,
    password_set_at TIMESTAMPTZ
);

CREATE TABLE audit_log (
    audit_id  BIGINT PRIMARY KEY DEFAULT nextval('audit_id_seq'),
    occurred_at TIMESTAMPTZ NOT NULL,
    actor     VARCHAR NOT NULL,           -- the user, or "cli:NAME" for the command line
    role      VARCHAR,
    action    VARCHAR NOT NULL,           -- an action of pipelines/access.toml, or sign_in / sign_in_failed
    outcome   VARCHAR NOT NULL,           -- done, refused, failed
    target    VARCHAR,                    -- the file, batch, crisis or user acted on
    detail    JSON
);
