-- name: identity-timeline
-- description: Everything about one identity in time order: its events (including task and
--   credential events that do not name it but concern its tasks or credentials), its finding
--   changes and its trust changes. kind is event, finding or trust.
-- param: nhi: The identity by any of its names: its id (k8s:prod/payments/ledger), or an alias
--   seen in the logs (an ARN, an Entra object id...) (required)
WITH me AS (
    SELECT coalesce((SELECT nhi FROM identity_aliases WHERE alias = :nhi), :nhi) AS nhi
), my_tasks AS (
    SELECT task FROM tasks WHERE nhi = (SELECT nhi FROM me)
    UNION SELECT task FROM credentials WHERE nhi = (SELECT nhi FROM me) AND task IS NOT NULL
    UNION SELECT task FROM events WHERE nhi = (SELECT nhi FROM me) AND task IS NOT NULL
), my_credentials AS (
    SELECT credential FROM credentials WHERE nhi = (SELECT nhi FROM me)
    UNION SELECT credential FROM events WHERE nhi = (SELECT nhi FROM me) AND credential IS NOT NULL
)
SELECT time, kind, what, credential, task, detail, ref
FROM (
    SELECT
        e.time, 'event' AS kind, e.type AS what, e.credential, e.task,
        concat_ws(' ', e.action, e.resource, e.outcome, 'owner=' || e.owner, 'method=' || e.method,
            CASE WHEN e.attested THEN 'attested' END,
            'expires=' || strftime(e.expires_at, '%Y-%m-%dT%H:%M:%SZ'), 'purpose=' || e.purpose) AS detail,
        e.id AS ref, 0 AS ord
    FROM events AS e
    WHERE e.nhi = (SELECT nhi FROM me)
       OR (e.nhi IS NULL AND (e.task IN (SELECT task FROM my_tasks)
                              OR e.credential IN (SELECT credential FROM my_credentials)))
    UNION ALL
    SELECT
        time, 'finding', detector || ' ' || activity, credential, task,
        severity || ' ' || status || ': ' || summary, finding_id, 1
    FROM finding_history
    WHERE nhi = (SELECT nhi FROM me)
    UNION ALL
    SELECT
        time, 'trust', 'trust ' || coalesce(CAST(previous AS VARCHAR), 'new') || ' -> ' || score, NULL, NULL,
        factors, event_id, 2
    FROM trust_scores
    WHERE nhi = (SELECT nhi FROM me)
)
ORDER BY time, ord, ref
