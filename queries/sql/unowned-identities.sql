-- name: unowned-identities
-- description: Machine identities without an active owner (none, departed or deleted; people and
--   provider-managed identities are not listed) and every unowned-actor finding, one row per
--   identity and finding; open findings first. owner_source says where an owner came from
--   (inventory, tag, label, annotation, log, creator); inventoried whether an inventory covers
--   the identity's scope (never registered there is a shadow NHI).
SELECT
    coalesce(f.nhi, i.nhi) AS nhi,
    i.scope,
    i.kind,
    i.owner,
    i.owner_source,
    coalesce(i.owner_status, 'unknown') AS owner_status,
    i.status AS identity_status,
    i.scope_inventoried AS inventoried,
    f.reason,
    f.severity,
    f.status AS finding_status,
    f.summary,
    f.last_seen,
    f.finding_id
FROM (SELECT * FROM findings WHERE detector = 'unowned-actor') AS f
FULL OUTER JOIN identities AS i ON i.nhi = f.nhi
WHERE f.finding_id IS NOT NULL
   OR ((i.owner IS NULL OR i.owner_status <> 'active' OR i.status = 'deleted')
       AND i.kind IS DISTINCT FROM 'human' AND i.managed_by IS NULL)
ORDER BY f.status = 'open' DESC NULLS LAST,
    CASE f.severity WHEN 'high' THEN 3 WHEN 'medium' THEN 2 WHEN 'low' THEN 1 ELSE 0 END DESC,
    nhi, f.reason
