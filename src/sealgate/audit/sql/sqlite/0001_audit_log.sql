-- sealgate audit log, SQLite dialect, schema version 1 (see docs/audit.md "Schema").
--
-- One row per record. `idx` is the record's position in the log (0-based, no gaps);
-- `record` the exact RFC 8785 bytes that were appended; `leaf_hash` = SHA-256(0x00 || record);
-- `node_hashes` the hashes of the perfect subtrees this record completes (levels 1, 2, ...,
-- 32 bytes each), written once at append time so that roots and proofs for any size are
-- O(log n) lookups. Columns are ordered so that reading hashes never touches record bytes.

CREATE TABLE audit_entry (
    idx         INTEGER PRIMARY KEY CHECK (idx >= 0),
    leaf_hash   BLOB NOT NULL CHECK (length(leaf_hash) = 32),
    node_hashes BLOB NOT NULL CHECK (length(node_hashes) % 32 = 0),
    record      BLOB NOT NULL
);

-- Append-only by construction for everyone who goes through SQLite. These triggers are a
-- guard against mistakes, not a security boundary: whoever can write the file can drop
-- them, which is why verification re-hashes every record and checks checkpoints.
CREATE TRIGGER audit_entry_append_at_end
BEFORE INSERT ON audit_entry
WHEN NEW.idx IS NOT (SELECT coalesce(max(idx) + 1, 0) FROM audit_entry)
BEGIN
    SELECT RAISE(ABORT, 'audit log records are appended at the end, with no gaps');
END;

CREATE TRIGGER audit_entry_no_update
BEFORE UPDATE ON audit_entry
BEGIN
    SELECT RAISE(ABORT, 'audit log records cannot be changed');
END;

CREATE TRIGGER audit_entry_no_delete
BEFORE DELETE ON audit_entry
BEGIN
    SELECT RAISE(ABORT, 'audit log records cannot be deleted');
END;
