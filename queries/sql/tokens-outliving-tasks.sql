-- name: tokens-outliving-tasks
-- description: Credentials still valid, or still used, after the task they were issued for ended
--   (token-outlived-task findings), open ones first. outlives_s is how long the credential stays
--   valid past the task's end (reason outlived-task) or how late it was used (used-after-task-end);
--   it is NULL when the credential never expires.
-- param: status: Only findings with this status: open, resolved or all (default all)
WITH f AS (
    SELECT * FROM findings
    WHERE detector = 'token-outlived-task' AND (:status = 'all' OR status = :status)
), joined AS (
    SELECT
        f.*,
        t.ended_at AS task_ended_at,
        coalesce(c.revoked_at, c.expires_at) AS credential_end,
        c.expires_at IS NULL AND c.revoked_at IS NULL AS never_expires,
        CASE
            WHEN f.reason = 'used-after-task-end' THEN coalesce(
                epoch(c.last_used - t.ended_at), TRY_CAST(json_extract_string(f.details, '$.late_s') AS DOUBLE))
            ELSE coalesce(
                epoch(coalesce(c.revoked_at, c.expires_at) - t.ended_at),
                TRY_CAST(json_extract_string(f.details, '$.outlives_s') AS DOUBLE))
        END AS outlives_s
    FROM f
    LEFT JOIN credentials c ON c.credential = f.credential AND c.nhi = f.nhi
    LEFT JOIN tasks t ON t.task = f.task AND t.nhi = f.nhi
)
SELECT
    nhi, credential, task, severity, status, reason, task_ended_at, credential_end,
    coalesce(never_expires, false) AS never_expires,
    round(outlives_s, 3) AS outlives_s,
    CASE WHEN outlives_s IS NULL THEN NULL ELSE CAST(to_seconds(round(outlives_s)) AS VARCHAR) END AS outlives,
    summary, first_seen, last_seen, finding_id
FROM joined
ORDER BY status = 'open' DESC, CASE severity WHEN 'high' THEN 3 WHEN 'medium' THEN 2 ELSE 1 END DESC,
    outlives_s DESC NULLS FIRST, nhi, credential
