-- 0002: the alert outbox. One row per alert per output (mqtt, homeassistant, email,
-- webhook), written in the same transaction as the alert state change that raised it and
-- deleted once that output has it, so an alert survives a broker outage or a restart and
-- is neither lost nor repeated. id orders delivery; created (unix ns) drives the expiry.
CREATE TABLE alert_outbox (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    output   TEXT    NOT NULL,
    alert_id TEXT    NOT NULL,
    payload  BLOB    NOT NULL,
    created  INTEGER NOT NULL
);
CREATE INDEX alert_outbox_by_output ON alert_outbox (output, id);
