-- The event log: append-only, one row per event, in a gap-safe global order.
--
-- `position` is derived from the writing transaction's 64-bit id:
--   position = xid8 * 65536 + ordinal of the event within that transaction.
-- Readers only read positions below pg_snapshot_xmin(pg_current_snapshot()) * 65536,
-- so an event whose transaction is still open can never be skipped (see crates/store/README.md).
CREATE TABLE events (
    position        bigint      PRIMARY KEY,
    event_id        uuid        NOT NULL UNIQUE,
    stream          text        NOT NULL,
    version         bigint      NOT NULL CHECK (version >= 1),
    type            text        NOT NULL,
    schema_version  integer     NOT NULL CHECK (schema_version >= 0),
    occurred_at     timestamptz NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    actor           text        NOT NULL,
    -- `json`, not `jsonb`: the exact canonical bytes the writer produced are kept, so that a
    -- hash chain over them can be verified byte for byte later.
    data            json        NOT NULL,
    metadata        json        NOT NULL,
    CONSTRAINT events_stream_version UNIQUE (stream, version)
);

CREATE INDEX events_type_position ON events (type, position);

-- Idempotency keys: a retried append with the same key returns the original result.
-- The events of one append are contiguous positions first_position .. first_position + count - 1.
CREATE TABLE idempotency_keys (
    key             text        PRIMARY KEY,
    request_hash    bytea       NOT NULL,
    first_position  bigint      NOT NULL,
    event_count     integer     NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now()
);

-- The log is immutable: no update, delete or truncate, whoever asks.
CREATE FUNCTION events_are_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the event log is append-only: % on % is refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER events_no_update_delete
    BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_are_immutable();
CREATE TRIGGER events_no_truncate
    BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_are_immutable();
-- ENABLE ALWAYS: also fire under session_replication_role = replica, which skips ordinary triggers.
ALTER TABLE events ENABLE ALWAYS TRIGGER events_no_update_delete;
ALTER TABLE events ENABLE ALWAYS TRIGGER events_no_truncate;

-- Idempotency keys are part of the record of what was appended: equally immutable.
CREATE TRIGGER idempotency_keys_no_update_delete
    BEFORE UPDATE OR DELETE ON idempotency_keys
    FOR EACH ROW EXECUTE FUNCTION events_are_immutable();
CREATE TRIGGER idempotency_keys_no_truncate
    BEFORE TRUNCATE ON idempotency_keys
    FOR EACH STATEMENT EXECUTE FUNCTION events_are_immutable();
ALTER TABLE idempotency_keys ENABLE ALWAYS TRIGGER idempotency_keys_no_update_delete;
ALTER TABLE idempotency_keys ENABLE ALWAYS TRIGGER idempotency_keys_no_truncate;
