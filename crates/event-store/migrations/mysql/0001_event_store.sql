-- The event log and the command-side tables that change in the same transaction.
-- AUTO_INCREMENT positions are not in commit order across transactions: nothing may tail
-- `events` by position. The relay reads `outbox` instead.
CREATE TABLE events (
    position       BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    event_id       CHAR(36)     NOT NULL,
    stream_type    VARCHAR(32)  NOT NULL,
    stream_id      CHAR(36)     NOT NULL,
    version        BIGINT       NOT NULL,
    event_type     VARCHAR(64)  NOT NULL,
    schema_version INT          NOT NULL,
    payload        JSON         NOT NULL,
    metadata       JSON         NOT NULL,
    recorded_at    DATETIME(6)  NOT NULL,
    UNIQUE KEY uq_events_event_id (event_id),
    UNIQUE KEY uq_events_stream_version (stream_id, version),
    CONSTRAINT ck_events_version CHECK (version >= 1)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- One row per event, written in the append transaction; the relay deletes a row once Kafka
-- acknowledged the event.
CREATE TABLE outbox (
    position   BIGINT      NOT NULL PRIMARY KEY,
    created_at DATETIME(6) NOT NULL
) ENGINE = InnoDB;

-- Password hashes never enter the event log.
CREATE TABLE credentials (
    user_id       CHAR(36)     NOT NULL PRIMARY KEY,
    email         VARCHAR(254) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    password_hash VARCHAR(255) NOT NULL,
    UNIQUE KEY uq_credentials_email (email)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- Reservations: e-mail addresses, movie name + director. Keys are stored normalised, so a
-- binary collation compares them exactly (a `_ci` one would also equate `é` and `e`).
-- Binary columns are never read back as text: sqlx sees them as BINARY.
CREATE TABLE unique_keys (
    kind      VARCHAR(32)  NOT NULL,
    `key`     VARCHAR(512) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    stream_id CHAR(36)     NOT NULL,
    PRIMARY KEY (kind, `key`)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

CREATE TABLE idempotency_keys (
    scope        VARCHAR(64)  NOT NULL,
    `key`        VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    request_hash CHAR(64)     NOT NULL,
    response     JSON         NOT NULL,
    created_at   DATETIME(6)  NOT NULL,
    PRIMARY KEY (scope, `key`)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
