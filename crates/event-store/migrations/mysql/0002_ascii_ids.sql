-- Ids are UUIDs in ASCII: compared byte by byte (ascii_general_ci) rather than through the
-- Unicode collation algorithm of utf8mb4_unicode_ci, which took about a sixth of MariaDB's CPU
-- on every index search and insert by id while adds ran at 32 connections. Case-insensitive,
-- as the Unicode collation was, so no comparison answers differently. The tables are rewritten
-- once, when a database made before this migration is first opened.
ALTER TABLE events
    MODIFY event_id  CHAR(36) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL,
    MODIFY stream_id CHAR(36) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL;
ALTER TABLE unique_keys
    MODIFY stream_id CHAR(36) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL;
ALTER TABLE credentials
    MODIFY user_id CHAR(36) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL;
