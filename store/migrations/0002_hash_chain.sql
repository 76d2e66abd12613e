-- 0002: tamper evidence. finding_history and trust_scores each carry a hash chain in insertion
-- order: seq (1, 2, ...), prev_hash (the previous row's hash) and hash (over prev_hash and the
-- row's content). The columns are nullable so existing files migrate; Store.open links the rows
-- that were there before this migration right after applying it (store/chain.py: adopt).

ALTER TABLE finding_history ADD COLUMN seq BIGINT;
ALTER TABLE finding_history ADD COLUMN prev_hash VARCHAR;
ALTER TABLE finding_history ADD COLUMN hash VARCHAR;

ALTER TABLE trust_scores ADD COLUMN seq BIGINT;
ALTER TABLE trust_scores ADD COLUMN prev_hash VARCHAR;
ALTER TABLE trust_scores ADD COLUMN hash VARCHAR;

-- The last link of each chain, written in the same transaction as the rows. Without it a
-- deleted last row would leave a shorter chain that still verifies.
CREATE TABLE chain_heads (
    chain      VARCHAR PRIMARY KEY,          -- findings | trust
    seq        BIGINT NOT NULL,
    hash       VARCHAR NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

-- Which suppression rule turned which finding change into a suppressed alert, and why: tuning
-- stays auditable even though the finding itself is never altered.
CREATE TABLE alert_suppressions (
    history_id VARCHAR NOT NULL,             -- the finding change (finding_history.history_id)
    finding_id VARCHAR NOT NULL,
    rule_id    VARCHAR NOT NULL,
    reason     VARCHAR NOT NULL,
    expires    TIMESTAMPTZ,
    applied_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (history_id, rule_id)
);
