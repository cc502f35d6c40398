-- sealgate audit log, PostgreSQL dialect, schema version 1 (see docs/audit.md "Schema" and "Roles").
--
-- Runs inside the migration transaction, as the database owner, after the runner created the
-- schema `sealgate` and `sealgate.schema_version`. Same logical schema as SQLite: one row per
-- record with its exact bytes, its RFC 9162 leaf hash and the hashes of the perfect subtrees
-- it completes. Here the hashes are computed by the server, inside sealgate.audit_append(),
-- a SECURITY DEFINER function: the gate's role (sealgate_gate) may call it and read, and has
-- no INSERT, UPDATE, DELETE or TRUNCATE on the table.

CREATE TABLE sealgate.audit_entry (
    idx         bigint PRIMARY KEY CHECK (idx >= 0),
    leaf_hash   bytea NOT NULL CHECK (octet_length(leaf_hash) = 32),
    node_hashes bytea NOT NULL CHECK (octet_length(node_hashes) % 32 = 0),
    record      bytea NOT NULL
);

-- Even the owner's own sessions cannot change or remove a record without first disabling
-- these triggers, which is a deliberate, logged act (ALTER TABLE).
CREATE FUNCTION sealgate.audit_refuse_change() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    RAISE EXCEPTION 'audit log records cannot be changed or deleted (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$fn$;

CREATE TRIGGER audit_entry_no_update_delete
    BEFORE UPDATE OR DELETE ON sealgate.audit_entry
    FOR EACH ROW EXECUTE FUNCTION sealgate.audit_refuse_change();

CREATE TRIGGER audit_entry_no_truncate
    BEFORE TRUNCATE ON sealgate.audit_entry
    FOR EACH STATEMENT EXECUTE FUNCTION sealgate.audit_refuse_change();

-- Append records at the end of the log; return one row per record with the tree head after
-- the whole batch. RFC 9162: leaf = sha256(0x00 || record), node = sha256(0x01 || l || r).
CREATE FUNCTION sealgate.audit_append(records bytea[])
RETURNS TABLE (idx bigint, leaf_hash bytea, tree_size bigint, root_hash bytea)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
    n         bigint;
    first_idx bigint;
    frontier  bytea[] := '{}';
    leaves    bytea[] := '{}';
    rec       bytea;
    acc       bytea;
    completed bytea;
    sub       bytea;
    m         bigint;
    pos       bigint := 0;
    lvl       integer;
    k         integer;
    root      bytea;
BEGIN
    IF records IS NULL OR cardinality(records) = 0 THEN
        RAISE EXCEPTION 'audit_append needs at least one record' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF cardinality(records) > 100000 THEN
        RAISE EXCEPTION 'audit_append takes at most 100000 records per call' USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- One appender at a time (this mode conflicts with itself), readers are not blocked:
    -- index = current size inside the transaction.
    LOCK TABLE sealgate.audit_entry IN SHARE ROW EXCLUSIVE MODE;
    SELECT coalesce(max(e.idx) + 1, 0) INTO n FROM sealgate.audit_entry AS e;
    first_idx := n;

    -- The frontier: hashes of the perfect subtrees tiling [0, n), largest first. A subtree of
    -- level L ending at leaf r is stored in row r (leaf hash for L = 0, else node_hashes slot L).
    FOR lvl IN REVERSE 62..0 LOOP
        IF (n >> lvl) & 1 = 1 THEN
            SELECT CASE WHEN lvl = 0 THEN e.leaf_hash
                        ELSE substring(e.node_hashes FROM (lvl - 1) * 32 + 1 FOR 32) END
              INTO sub
              FROM sealgate.audit_entry AS e
             WHERE e.idx = pos + (1::bigint << lvl) - 1;
            IF sub IS NULL OR octet_length(sub) <> 32 THEN
                RAISE EXCEPTION 'audit log is missing the stored hash over records % to %',
                    pos, pos + (1::bigint << lvl) - 1 USING ERRCODE = 'data_corrupted';
            END IF;
            frontier := frontier || sub;
            pos := pos + (1::bigint << lvl);
        END IF;
    END LOOP;

    FOREACH rec IN ARRAY records LOOP
        IF rec IS NULL OR octet_length(rec) > 1048576 THEN
            RAISE EXCEPTION 'audit record % is missing or over 1 MiB', n USING ERRCODE = 'invalid_parameter_value';
        END IF;
        -- A coarse check that the bytes are a JSON object (json, not jsonb: jsonb refuses
        -- \u0000, which RFC 8785 may legitimately produce). Clients check canonical form.
        IF json_typeof(convert_from(rec, 'UTF8')::json) IS DISTINCT FROM 'object' THEN
            RAISE EXCEPTION 'audit record % is not a JSON object', n USING ERRCODE = 'invalid_parameter_value';
        END IF;
        acc := sha256('\x00'::bytea || rec);
        leaves := leaves || acc;
        completed := '\x'::bytea;
        m := n;
        WHILE m & 1 = 1 LOOP
            acc := sha256('\x01'::bytea || frontier[cardinality(frontier)] || acc);
            frontier := frontier[1:cardinality(frontier) - 1];
            completed := completed || acc;
            m := m >> 1;
        END LOOP;
        frontier := frontier || acc;
        INSERT INTO sealgate.audit_entry (idx, leaf_hash, node_hashes, record)
            VALUES (n, leaves[cardinality(leaves)], completed, rec);
        n := n + 1;
    END LOOP;

    root := frontier[cardinality(frontier)];
    FOR k IN REVERSE cardinality(frontier) - 1 .. 1 LOOP
        root := sha256('\x01'::bytea || frontier[k] || root);
    END LOOP;

    RETURN QUERY
        SELECT first_idx + o - 1, leaves[o], n, root
          FROM generate_subscripts(leaves, 1) AS o;
END
$fn$;

-- Roles. sealgate_gate is a group role: give each gate host a LOGIN role that is a member of
-- it (CREATE ROLE gate_host1 LOGIN IN ROLE sealgate_gate). Creating it needs CREATEROLE; a
-- DBA may create it beforehand instead.
DO $do$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'sealgate_gate') THEN
        CREATE ROLE sealgate_gate NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object THEN
    NULL;  -- created concurrently by a migration of another database in this cluster
END
$do$;

REVOKE ALL ON SCHEMA sealgate FROM PUBLIC;
GRANT USAGE ON SCHEMA sealgate TO sealgate_gate;
REVOKE ALL ON TABLE sealgate.audit_entry, sealgate.schema_version FROM PUBLIC;
GRANT SELECT ON TABLE sealgate.audit_entry, sealgate.schema_version TO sealgate_gate;
REVOKE ALL ON FUNCTION sealgate.audit_append(bytea[]) FROM PUBLIC;
REVOKE ALL ON FUNCTION sealgate.audit_refuse_change() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sealgate.audit_append(bytea[]) TO sealgate_gate;
