-- The verifiable log (crates/audit): an RFC 6962 Merkle tree over the events in position order,
-- and the signed checkpoints of it. The store's Rust code knows none of these tables; they
-- live in this migration history so that one migrator prepares a database.
--
-- The appenders never touch these tables: a background extender reads committed events below
-- the safe frontier and appends leaves, one transaction per batch.

-- Leaf i is the i-th event (0-based) in position order.
CREATE TABLE audit_leaves (
    leaf_index  bigint PRIMARY KEY CHECK (leaf_index >= 0),
    position    bigint NOT NULL UNIQUE,
    event_id    uuid   NOT NULL UNIQUE
);

-- Complete subtrees: (level, idx) is the root of the perfect subtree over leaves
-- idx * 2^level .. (idx + 1) * 2^level - 1; level 0 holds the leaf hashes. A complete subtree
-- never changes as the log grows, so rows are only ever added, and any root or proof needs at
-- most ~2 log2(n) of them.
CREATE TABLE audit_nodes (
    level  smallint NOT NULL CHECK (level BETWEEN 0 AND 63),
    idx    bigint   NOT NULL CHECK (idx >= 0),
    hash   bytea    NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (level, idx)
);

-- How far the tree reaches: its size and the position of its last leaf. One row, moved by
-- compare-and-set in the extender's transaction, so two extenders never both add a batch.
CREATE TABLE audit_tree (
    id             boolean PRIMARY KEY DEFAULT true CHECK (id),
    size           bigint  NOT NULL CHECK (size >= 0),
    last_position  bigint  NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now()
);
INSERT INTO audit_tree (size, last_position) VALUES (0, 0);

-- Signed tree heads. `note` is the C2SP signed note exactly as signed; `size` and `root_hash`
-- repeat what it says so that it can be found by size. Ed25519 signatures are deterministic,
-- so signing the same head with the same key again gives the same note, stored once.
CREATE TABLE audit_checkpoints (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    size        bigint      NOT NULL CHECK (size >= 0),
    root_hash   bytea       NOT NULL CHECK (length(root_hash) = 32),
    note        text        NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_checkpoints_size ON audit_checkpoints (size);

-- The tree and its checkpoints are evidence: as immutable as the log itself (the function and
-- the pattern of 0001_events.sql). `audit_tree` is a cursor, not evidence, and moves.
CREATE TRIGGER audit_leaves_no_update_delete
    BEFORE UPDATE OR DELETE ON audit_leaves
    FOR EACH ROW EXECUTE FUNCTION events_are_immutable();
CREATE TRIGGER audit_leaves_no_truncate
    BEFORE TRUNCATE ON audit_leaves
    FOR EACH STATEMENT EXECUTE FUNCTION events_are_immutable();
ALTER TABLE audit_leaves ENABLE ALWAYS TRIGGER audit_leaves_no_update_delete;
ALTER TABLE audit_leaves ENABLE ALWAYS TRIGGER audit_leaves_no_truncate;

CREATE TRIGGER audit_nodes_no_update_delete
    BEFORE UPDATE OR DELETE ON audit_nodes
    FOR EACH ROW EXECUTE FUNCTION events_are_immutable();
CREATE TRIGGER audit_nodes_no_truncate
    BEFORE TRUNCATE ON audit_nodes
    FOR EACH STATEMENT EXECUTE FUNCTION events_are_immutable();
ALTER TABLE audit_nodes ENABLE ALWAYS TRIGGER audit_nodes_no_update_delete;
ALTER TABLE audit_nodes ENABLE ALWAYS TRIGGER audit_nodes_no_truncate;

CREATE TRIGGER audit_checkpoints_no_update_delete
    BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION events_are_immutable();
CREATE TRIGGER audit_checkpoints_no_truncate
    BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION events_are_immutable();
ALTER TABLE audit_checkpoints ENABLE ALWAYS TRIGGER audit_checkpoints_no_update_delete;
ALTER TABLE audit_checkpoints ENABLE ALWAYS TRIGGER audit_checkpoints_no_truncate;
