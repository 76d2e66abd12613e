-- name: coverage
-- description: One row of hygiene coverage over identities that are not deleted: the share with an
--   active owner, the share whose credentials all expire, the share whose credentials were all
--   issued with attestation (both need at least one credential), and how many credentials never expire.
WITH live AS (
    SELECT * FROM identities WHERE status <> 'deleted'
), per_identity AS (
    SELECT
        i.nhi,
        i.owner IS NOT NULL AND i.owner_status = 'active' AS owned,
        count(c.credential) AS credentials,
        count(c.credential) FILTER (WHERE c.expires_at IS NULL) AS never_expiring,
        count(c.credential) FILTER (WHERE c.attested) AS attested
    FROM live AS i
    LEFT JOIN credentials AS c ON c.nhi = i.nhi
    GROUP BY i.nhi, i.owner, i.owner_status
)
SELECT
    count(*) AS identities,
    round(avg(CAST(owned AS INTEGER)), 4) AS owned_share,
    round(avg(CAST(credentials > 0 AND never_expiring = 0 AS INTEGER)), 4) AS expiring_share,
    round(avg(CAST(credentials > 0 AND attested = credentials AS INTEGER)), 4) AS attested_share,
    (SELECT count(*) FROM credentials WHERE expires_at IS NULL) AS never_expiring_credentials,
    (SELECT count(*) FROM credentials) AS credentials
FROM per_identity
