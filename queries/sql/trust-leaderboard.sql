-- name: trust-leaderboard
-- description: Identities by current trust score, lowest first, with the factors that explain their
--   latest score.
-- param: limit: How many identities to show (default 20)
WITH latest AS (
    SELECT nhi, time, previous, factors
    FROM trust_scores
    QUALIFY row_number() OVER (PARTITION BY nhi ORDER BY time DESC, event_id DESC) = 1
)
SELECT
    i.nhi, i.trust, l.previous, i.owner, i.owner_status, i.status, i.open_findings,
    l.time AS scored_at,
    l.factors::JSON AS factors
FROM identities AS i
LEFT JOIN latest AS l ON l.nhi = i.nhi
ORDER BY i.trust ASC, i.open_findings DESC, i.nhi
LIMIT CAST(:limit AS INTEGER)
