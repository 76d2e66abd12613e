-- 0001: the evidence store's first schema.
-- Timestamps are TIMESTAMPTZ (instants); JSON payloads are VARCHAR holding JSON text so the
-- store does not depend on the json extension being loadable where the file is read.

CREATE TABLE events (
    id          VARCHAR PRIMARY KEY,          -- stable event id: replays insert nothing new
    type        VARCHAR NOT NULL,
    time        TIMESTAMPTZ NOT NULL,
    nhi         VARCHAR,
    credential  VARCHAR,
    task        VARCHAR,
    owner       VARCHAR,
    source      VARCHAR NOT NULL,
    ingested_at TIMESTAMPTZ NOT NULL,         -- first ingestion wins (ON CONFLICT DO NOTHING)
    expires_at  TIMESTAMPTZ,
    method      VARCHAR,
    attested    BOOLEAN NOT NULL,
    action      VARCHAR,
    resource    VARCHAR,
    outcome     VARCHAR,
    purpose     VARCHAR,
    context     STRUCT(cluster VARCHAR, namespace VARCHAR, env VARCHAR, region VARCHAR, image VARCHAR,
                       node VARCHAR, pod_uid VARCHAR, instance VARCHAR, ip VARCHAR, user_agent VARCHAR),
    attrs       VARCHAR                       -- JSON object text; NULL when the event had none
);

-- Entity snapshots: the engine's latest view, upserted per batch.
CREATE TABLE identities (
    nhi           VARCHAR PRIMARY KEY,
    owner         VARCHAR,
    owner_status  VARCHAR NOT NULL,           -- active | departed | none
    status        VARCHAR NOT NULL,           -- registered | unregistered | deleted
    purpose       VARCHAR,
    first_seen    TIMESTAMPTZ NOT NULL,
    last_seen     TIMESTAMPTZ NOT NULL,
    event_count   BIGINT NOT NULL,
    trust         INTEGER NOT NULL,
    open_findings INTEGER NOT NULL
);

CREATE TABLE credentials (
    credential VARCHAR NOT NULL,
    nhi        VARCHAR NOT NULL,
    method     VARCHAR,
    task       VARCHAR,
    attested   BOOLEAN NOT NULL,
    issued_at  TIMESTAMPTZ,
    expires_at TIMESTAMPTZ,                   -- NULL = never expires (contract v1)
    revoked_at TIMESTAMPTZ,
    first_used TIMESTAMPTZ,
    last_used  TIMESTAMPTZ,
    use_count  BIGINT NOT NULL,
    PRIMARY KEY (credential, nhi)
);

CREATE TABLE tasks (
    task       VARCHAR NOT NULL,
    nhi        VARCHAR NOT NULL,
    started_at TIMESTAMPTZ,
    ended_at   TIMESTAMPTZ,
    PRIMARY KEY (task, nhi)
);

-- Current state of each finding; its changes are appended to finding_history.
CREATE TABLE findings (
    finding_id  VARCHAR PRIMARY KEY,
    detector    VARCHAR NOT NULL,
    severity    VARCHAR NOT NULL,
    status      VARCHAR NOT NULL,
    nhi         VARCHAR NOT NULL,
    credential  VARCHAR,
    task        VARCHAR,
    reason      VARCHAR NOT NULL,
    summary     VARCHAR NOT NULL,
    first_seen  TIMESTAMPTZ NOT NULL,         -- kept from the first write on upsert
    last_seen   TIMESTAMPTZ NOT NULL,
    resolved_at TIMESTAMPTZ,
    evidence    VARCHAR[] NOT NULL,           -- event ids
    details     VARCHAR,                      -- JSON object text
    updated_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE finding_history (
    history_id  VARCHAR PRIMARY KEY,          -- hash of the change: re-writing it is a no-op
    finding_id  VARCHAR NOT NULL,
    activity    VARCHAR NOT NULL,             -- create | update | close
    status      VARCHAR NOT NULL,
    severity    VARCHAR NOT NULL,
    detector    VARCHAR NOT NULL,
    nhi         VARCHAR NOT NULL,
    credential  VARCHAR,
    task        VARCHAR,
    time        TIMESTAMPTZ NOT NULL,         -- event time of the change
    reason      VARCHAR NOT NULL,
    summary     VARCHAR NOT NULL,
    evidence    VARCHAR[] NOT NULL,
    details     VARCHAR,
    recorded_at TIMESTAMPTZ NOT NULL
);

-- Append-only trust history; one row per (identity, event that changed it).
CREATE TABLE trust_scores (
    nhi      VARCHAR NOT NULL,
    time     TIMESTAMPTZ NOT NULL,
    score    INTEGER NOT NULL,
    previous INTEGER,
    factors  VARCHAR NOT NULL,                -- JSON list of {name, delta, detail, evidence}
    event_id VARCHAR NOT NULL,
    PRIMARY KEY (nhi, event_id)
);

CREATE TABLE rejects (
    id          VARCHAR PRIMARY KEY,          -- hash of raw + source + location
    raw         VARCHAR NOT NULL,
    reason      VARCHAR NOT NULL,
    source      VARCHAR NOT NULL,
    location    VARCHAR,
    received_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE engine_state (
    name       VARCHAR PRIMARY KEY,
    state      BLOB NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

-- Written in the same transaction as the rows they produced: the Kafka sink's exactly-once.
CREATE TABLE kafka_offsets (
    grp         VARCHAR NOT NULL,
    topic       VARCHAR NOT NULL,
    "partition" INTEGER NOT NULL,
    next_offset BIGINT NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (grp, topic, "partition")
);
