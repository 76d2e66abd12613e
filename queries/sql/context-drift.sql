-- name: context-drift
-- description: context-drift findings: a credential used somewhere other than where it was issued
--   (level credential) or an identity acting outside its learned baseline (level identity).
-- param: status: Only findings with this status: open, resolved or all (default all)
SELECT
    nhi, credential, task, severity, status, reason,
    json_extract_string(details, '$.level') AS level,
    json_extract_string(details, '$.attribute') AS attribute,
    details::JSON AS details,
    summary, first_seen, last_seen,
    len(evidence) AS evidence_count,
    finding_id
FROM findings
WHERE detector = 'context-drift' AND (:status = 'all' OR status = :status)
ORDER BY status = 'open' DESC, CASE severity WHEN 'high' THEN 3 WHEN 'medium' THEN 2 ELSE 1 END DESC,
    last_seen DESC, nhi
