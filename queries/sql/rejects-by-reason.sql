-- name: rejects-by-reason
-- description: Records that could not become events, grouped by source and reason, with one
--   example location to look at.
SELECT
    source,
    reason,
    count(*) AS rejects,
    min(location) AS example_location,
    min(received_at) AS first_received,
    max(received_at) AS last_received
FROM rejects
GROUP BY source, reason
ORDER BY rejects DESC, source, reason
