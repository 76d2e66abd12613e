-- 0004: suppressions as evidence. Only `nhi suppress add` records one (previews such as
-- `nhi alerts --suppressions FILE` never write): who (actor), when (recorded_at), why (reason) and
-- until when (expires). Append-only, on its own hash chain (store/chain.py): revoking a
-- suppression appends a row with action 'revoke'; nothing is updated. The rows of
-- alert_suppressions (written by earlier releases whenever alerts were rendered) are no longer
-- written or counted; they are kept, untouched, as they were.

CREATE TABLE suppressions (
    suppression_id VARCHAR NOT NULL,
    action         VARCHAR NOT NULL,          -- add | revoke
    finding_id     VARCHAR NOT NULL,
    reason         VARCHAR NOT NULL,
    actor          VARCHAR NOT NULL,
    recorded_at    TIMESTAMPTZ NOT NULL,
    expires        TIMESTAMPTZ,               -- add: until when; revoke: NULL
    seq            BIGINT,
    prev_hash      VARCHAR,
    hash           VARCHAR,
    PRIMARY KEY (suppression_id, action)
);
