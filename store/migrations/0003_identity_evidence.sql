-- 0003: who a principal is, where its owner comes from, its other names, and what was skipped.
-- The identity columns are nullable so existing files migrate; the engine fills them on the
-- identity's next snapshot.

ALTER TABLE identities ADD COLUMN kind VARCHAR;           -- human | machine | NULL (no evidence yet)
ALTER TABLE identities ADD COLUMN kind_evidence VARCHAR;  -- why, e.g. "console sign-in"
ALTER TABLE identities ADD COLUMN human_use VARCHAR;      -- OWASP NHI10: a person used this machine identity
ALTER TABLE identities ADD COLUMN owner_source VARCHAR;   -- inventory | tag | label | annotation | log | creator
ALTER TABLE identities ADD COLUMN managed_by VARCHAR;     -- the provider of a provider-managed identity
ALTER TABLE identities ADD COLUMN scope VARCHAR;          -- provider plus account, cluster or project
ALTER TABLE identities ADD COLUMN scope_inventoried BOOLEAN;  -- an inventory registered an identity of its scope

-- Every other name of an identity seen in the logs (an ARN, an object id beside an appId...), so
-- any of them finds it. The first sighting wins.
CREATE TABLE identity_aliases (
    alias      VARCHAR PRIMARY KEY,
    nhi        VARCHAR NOT NULL,
    source     VARCHAR NOT NULL,            -- the collector that saw both names
    evidence   VARCHAR NOT NULL,            -- the event id that carried them
    first_seen TIMESTAMPTZ NOT NULL
);

-- Valid records that concern no non-human identity: counted per input, collector and reason (a
-- re-run of the same input sets the same counts), so coverage is visible.
CREATE TABLE skipped (
    origin     VARCHAR NOT NULL,            -- the input file, stdin, or the ingest that read it
    source     VARCHAR NOT NULL,
    reason     VARCHAR NOT NULL,
    records    BIGINT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (origin, source, reason)
);
