-- 0001: the first schema. Times are UTC unix nanoseconds (NULL = never / zero time),
-- durations are nanoseconds, payloads are BLOBs stored exactly as given.

-- Per-account sessions: tokens, cookies, login guard counters.
CREATE TABLE kv (
    account TEXT    NOT NULL,
    key     TEXT    NOT NULL,
    value   BLOB    NOT NULL,
    updated INTEGER NOT NULL,
    PRIMARY KEY (account, key)
) WITHOUT ROWID;

-- Last published form of each device, re-published at start before the first poll.
CREATE TABLE devices (
    device_id TEXT    NOT NULL PRIMARY KEY,
    account   TEXT    NOT NULL,
    model     BLOB,
    state     BLOB,
    updated   INTEGER NOT NULL
);
CREATE INDEX devices_by_account ON devices (account, device_id);

-- One row per poll, pruned by age.
CREATE TABLE runs (
    id          INTEGER PRIMARY KEY,
    account     TEXT    NOT NULL,
    started     INTEGER NOT NULL,
    duration_ns INTEGER NOT NULL,
    ok          INTEGER NOT NULL,
    error_kind  TEXT    NOT NULL DEFAULT '',
    message     TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX runs_by_account ON runs (account, started);
CREATE INDEX runs_by_started ON runs (started);

-- Poller state: failures, backoff and quarantine must survive a restart.
CREATE TABLE account_state (
    account                TEXT    NOT NULL PRIMARY KEY,
    consecutive_failures   INTEGER NOT NULL DEFAULT 0,
    last_run               INTEGER,
    last_ok                INTEGER,
    last_error_kind        TEXT    NOT NULL DEFAULT '',
    last_error             TEXT    NOT NULL DEFAULT '',
    backoff_until          INTEGER,
    quarantine_fingerprint TEXT    NOT NULL DEFAULT '',
    quarantine_reason      TEXT    NOT NULL DEFAULT '',
    updated                INTEGER NOT NULL
);

-- Alert state per (rule, subject), so a restart raises no duplicate alert.
CREATE TABLE alert_state (
    rule    TEXT    NOT NULL,
    subject TEXT    NOT NULL,
    state   TEXT    NOT NULL,
    since   INTEGER,
    updated INTEGER NOT NULL,
    data    BLOB,
    PRIMARY KEY (rule, subject)
) WITHOUT ROWID;

-- Small settings of the installation (e.g. a random salt made on first start).
CREATE TABLE meta (
    key     TEXT    NOT NULL PRIMARY KEY,
    value   TEXT    NOT NULL,
    updated INTEGER NOT NULL
) WITHOUT ROWID;
