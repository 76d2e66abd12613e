-- name: coverage
-- description: What the evidence covers, in total (the first row, scope "(all)") and per scope
--   (provider plus account, cluster or project), over identities that are not deleted: people,
--   machines and those of unknown kind, provider-managed ones, owned ones (and owned by their
--   creator only), machines with no known owner, whether an inventory covers the scope; the share
--   with an active owner, whose credentials all expire, whose credentials were all issued with
--   attestation (both need a credential); credentials that never expire; and, in the total row,
--   the records skipped because they concern no NHI (per collector).
WITH live AS (
    SELECT * FROM identities WHERE status <> 'deleted'
), per_identity AS (
    SELECT
        coalesce(i.scope, '(unknown)') AS scope,
        i.nhi, i.kind, i.managed_by, i.owner_source, coalesce(i.scope_inventoried, false) AS inventoried,
        i.owner IS NOT NULL AND i.owner_status = 'active' AS owned,
        i.owner IS NULL AND i.managed_by IS NULL AND i.kind IS DISTINCT FROM 'human' AS unowned,
        count(c.credential) AS credentials,
        count(c.credential) FILTER (WHERE c.expires_at IS NULL) AS never_expiring,
        count(c.credential) FILTER (WHERE c.attested) AS attested
    FROM live AS i
    LEFT JOIN credentials AS c ON c.nhi = i.nhi
    GROUP BY ALL
), scopes AS (
    SELECT scope, * EXCLUDE (scope) FROM per_identity
    UNION ALL
    SELECT '(all)', * EXCLUDE (scope) FROM per_identity
)
SELECT
    scope,
    count(*) AS identities,
    count(*) FILTER (WHERE kind = 'human') AS humans,
    count(*) FILTER (WHERE kind = 'machine') AS machines,
    count(*) FILTER (WHERE kind IS NULL) AS unknown_kind,
    count(*) FILTER (WHERE managed_by IS NOT NULL) AS provider_managed,
    count(*) FILTER (WHERE owned) AS owned,
    count(*) FILTER (WHERE owned AND owner_source = 'creator') AS owned_by_creator,
    count(*) FILTER (WHERE unowned) AS unowned,
    bool_or(inventoried) AS inventoried,
    round(avg(CAST(owned AS INTEGER)), 4) AS owned_share,
    round(avg(CAST(credentials > 0 AND never_expiring = 0 AS INTEGER)), 4) AS expiring_share,
    round(avg(CAST(credentials > 0 AND attested = credentials AS INTEGER)), 4) AS attested_share,
    sum(never_expiring) AS never_expiring_credentials,
    sum(credentials) AS credentials,
    CASE WHEN scope = '(all)' THEN (SELECT coalesce(sum(records), 0) FROM skipped) END AS skipped_records,
    CASE WHEN scope = '(all)' THEN (
        SELECT string_agg(source || '=' || n, ', ' ORDER BY source)
        FROM (SELECT source, sum(records) AS n FROM skipped GROUP BY source)
    ) END AS skipped_by_source
FROM scopes
GROUP BY scope
ORDER BY scope = '(all)' DESC, unowned DESC, scope
