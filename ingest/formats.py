"""The registry of input formats: one dict, grep it to see what is supported.

``auto`` is not an entry: it sniffs each record against these, in this order.
"""

from __future__ import annotations

from ingest.parsers.cloudtrail import parse_cloudtrail, sniff_cloudtrail
from ingest.parsers.entra import parse_entra, sniff_entra
from ingest.parsers.gcp_audit import parse_gcp_audit, sniff_gcp_audit
from ingest.parsers.github_audit import parse_github_audit, sniff_github_audit
from ingest.parsers.k8s_audit import parse_k8s_audit, sniff_k8s_audit
from ingest.parsers.native import parse_native, sniff_native
from ingest.parsers.ocsf import parse_ocsf, sniff_ocsf
from ingest.parsers.okta import parse_okta, sniff_okta
from ingest.parsers.spire import parse_spire, sniff_spire
from ingest.parsers.vault_audit import parse_vault_audit, sniff_vault_audit
from ingest.parsing import Format

FORMATS: dict[str, Format] = {
    "native": Format(
        "native", "nhi-evidence canonical events, one JSON object per line", parse_native, sniff_native
    ),
    "k8s-audit": Format("k8s-audit", "Kubernetes audit (EventList, AKS)", parse_k8s_audit, sniff_k8s_audit),
    "gcp-audit": Format("gcp-audit", "GCP Cloud Audit Logs, GKE included", parse_gcp_audit, sniff_gcp_audit),
    "ocsf": Format("ocsf", "OCSF Authentication (3002), API Activity (6003)", parse_ocsf, sniff_ocsf),
    "spire": Format("spire", "SPIRE server logs (SVIDs)", parse_spire, sniff_spire, decode="text"),
    "cloudtrail": Format("cloudtrail", "AWS CloudTrail, EventBridge too", parse_cloudtrail, sniff_cloudtrail),
    "vault-audit": Format("vault-audit", "Vault audit device", parse_vault_audit, sniff_vault_audit),
    "entra": Format("entra", "Entra ID sign-in and audit logs", parse_entra, sniff_entra),
    "okta": Format("okta", "Okta System Log", parse_okta, sniff_okta),
    "github-audit": Format("github-audit", "GitHub audit log", parse_github_audit, sniff_github_audit),
}

AUTO = "auto"


def format_names() -> list[str]:
    return [*FORMATS, AUTO]
