-- The event log and the command-side tables that change in the same transaction.
-- SQLite serialises writers, so the embedded feed may tail this table by position.
CREATE TABLE events (
    position       INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id       TEXT    NOT NULL UNIQUE,
    stream_type    TEXT    NOT NULL,
    stream_id      TEXT    NOT NULL,
    version        INTEGER NOT NULL CHECK (version >= 1),
    event_type     TEXT    NOT NULL,
    schema_version INTEGER NOT NULL,
    payload        TEXT    NOT NULL CHECK (json_valid(payload)),
    metadata       TEXT    NOT NULL CHECK (json_valid(metadata)),
    recorded_at    TEXT    NOT NULL,
    UNIQUE (stream_id, version)
);

-- Password hashes never enter the event log.
CREATE TABLE credentials (
    user_id       TEXT NOT NULL PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL
);

-- Reservations: e-mail addresses, movie name + director. Keys are stored normalised.
CREATE TABLE unique_keys (
    kind      TEXT NOT NULL,
    key       TEXT NOT NULL,
    stream_id TEXT NOT NULL,
    PRIMARY KEY (kind, key)
);

CREATE TABLE idempotency_keys (
    scope        TEXT NOT NULL,
    key          TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    response     TEXT NOT NULL CHECK (json_valid(response)),
    created_at   TEXT NOT NULL,
    PRIMARY KEY (scope, key)
);
