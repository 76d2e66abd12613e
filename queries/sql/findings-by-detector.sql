-- name: findings-by-detector
-- description: Findings per detector: open, resolved, open high-severity, identities affected.
SELECT
    detector,
    count(*) FILTER (WHERE status = 'open') AS open,
    count(*) FILTER (WHERE status = 'resolved') AS resolved,
    count(*) FILTER (WHERE status = 'open' AND severity = 'high') AS open_high,
    count(*) AS total,
    count(DISTINCT nhi) AS identities,
    max(last_seen) AS last_seen
FROM findings
GROUP BY detector
ORDER BY open DESC, total DESC, detector
