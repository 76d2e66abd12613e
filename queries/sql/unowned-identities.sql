-- name: unowned-identities
-- description: Identities without an active owner (none, departed or deleted) and every
--   unowned-actor finding, one row per identity and finding; open findings first.
SELECT
    coalesce(f.nhi, i.nhi) AS nhi,
    i.owner,
    coalesce(i.owner_status, 'unknown') AS owner_status,
    i.status AS identity_status,
    f.reason,
    f.severity,
    f.status AS finding_status,
    f.summary,
    f.last_seen,
    f.finding_id
FROM (SELECT * FROM findings WHERE detector = 'unowned-actor') AS f
FULL OUTER JOIN identities AS i ON i.nhi = f.nhi
WHERE f.finding_id IS NOT NULL OR i.owner IS NULL OR i.owner_status <> 'active' OR i.status = 'deleted'
ORDER BY f.status = 'open' DESC NULLS LAST,
    CASE f.severity WHEN 'high' THEN 3 WHEN 'medium' THEN 2 WHEN 'low' THEN 1 ELSE 0 END DESC,
    nhi, f.reason
