"""GCP Cloud Audit Logs (LogEntry with ``protoPayload``) -> canonical NHI events.

NHI ids: service accounts are ``gcp:<project>/<email>``, the project taken from the email
(``name@PROJECT.iam.gserviceaccount.com``) so one account has one id wherever it acts; Google-managed
accounts (``@cloudbuild.gserviceaccount.com`` ...) take the entry's project. Federated principals
(workload identity federation) are ``gcp:<project>/principal://...``.

Mapping (methods matched on the last segment of methodName):

- iamcredentials ``GenerateAccessToken`` / ``GenerateIdToken`` / ``SignJwt`` / ``SignBlob`` ->
  credential.issued for the *target* account (request.name). Tokens are never logged by Google and
  never copied here: the credential id is the keyed fingerprint of (caller, target, time, method).
  Expiry: ``request.lifetime``, a SignJwt payload's ``exp``, else 3600 s (``attrs.expires_at_assumed``).
  The caller and the delegation chain go to attrs.
- iam ``CreateServiceAccountKey`` / ``UploadServiceAccountKey`` -> credential.issued ``gcp-key:<key id>``
  (the same id a call signed with that key carries in ``serviceAccountKeyName``), expiry from
  validBeforeTime; user-managed keys (valid before 9999-12-31) never expire.
  ``DeleteServiceAccountKey`` / ``DisableServiceAccountKey`` -> credential.revoked.
- ``CreateServiceAccount`` -> identity.registered; ``DeleteServiceAccount`` -> identity.deleted;
  ``Disable/EnableServiceAccount`` -> identity.updated (``attrs.disabled``).
- sts ``ExchangeToken`` -> credential.issued, method ``gcp-workload-identity-federation``, nhi the
  mapped principal (``metadata.mapped_principal``) or the IdP subject.
- every call whose principal is a service account -> credential.used: action = methodName,
  resource = resourceName, ip, user agent, region (resource labels or resourceLocation), outcome
  failure when status.code != 0 or an authorization was denied. Credential: ``gcp-key:<id>`` when a
  key signed the call, else ``gcp-sa-token:<email>`` (a short-lived token whose issuance is not linked).
- ``serviceName == "k8s.io"`` (GKE): mapped with the Kubernetes rules (``ingest/providers/gke.py``), plus
  credential.used when the principal is a GCP service account.
- calls by people that touch no service account, and calls of the service agents' own plumbing
  that change no identity, are skipped with their reason (counted, not rejected).

What the records show about a principal: a service account is ``principal_kind = "machine"``;
Google's service agents (``service-N@gcp-sa-*.iam.gserviceaccount.com``, ``N@cloudservices...``
and the other service-agent domains, ``ingest/providers/gcp_entry.py``) are also ``managed_by =
"gcp"`` and take the entry's project; the default compute, App Engine and Cloud Build accounts are
the customer's. ``session_kind``: a call signed with a key is ``key``; a token a GKE or GCE
metadata server minted, or a call from inside a VPC (``callerNetwork``), ``workload``; a token
another principal minted (impersonation) ``assumed``; workforce federation ``person``. A created
account records its creator (``created_by``); its owner is a ``labels`` owner where logged, else
the person who created it (``owner_source = creator``).

Sources need Data Access audit logs (ADMIN_READ) for iamcredentials and sts: token minting is a
data-access event, off by default.
"""

from __future__ import annotations

from typing import Any

from contract.errors import RecordRejected, RecordSkipped
from contract.events import Context, Event, EventType
from contract.identity import SESSION_KIND, WORKLOAD
from ingest.parsing import ParseContext
from ingest.providers.gcp_entry import Entry, account_attrs, delegation, is_service_account, last_segment
from ingest.providers.gcp_iam import lifecycle_events
from ingest.providers.gke import gke_events, is_gke
from ingest.toolkit.build import build, looks_native
from ingest.toolkit.fields import as_dict, text


def sniff_gcp_audit(value: Any) -> bool:
    if not isinstance(value, dict) or looks_native(value):
        return False
    # No other format has a protoPayload object: even a trimmed entry is a GCP one.
    return isinstance(value.get("protoPayload"), dict)


def parse_gcp_audit(value: Any, ctx: ParseContext) -> list[Event]:
    if not isinstance(value, dict) or not isinstance(value.get("protoPayload"), dict):
        raise RecordRejected("not a GCP audit LogEntry (no protoPayload object)")
    entry = Entry(value, ctx)
    events = build(_entry_events, entry)
    if not events:
        raise RecordSkipped(_why_nothing(entry))
    return events


def _entry_events(e: Entry) -> list[Event]:
    out: list[Event] = []
    if is_service_account(e.principal):
        out.append(_used(e))
    if is_gke(e.pp):
        out.extend(gke_events(e))
    else:
        out.extend(lifecycle_events(e))
    return out


def _why_nothing(e: Entry) -> str:
    if is_gke(e.pp):
        return "gcp-audit: a GKE request by a person or the control plane that touches no service account"
    if not e.principal:
        return "gcp-audit: an entry that names no principal and changes no service account"
    return "gcp-audit: a person's call that touches no service account"


def _used(e: Entry) -> Event:
    ai = as_dict(e.pp.get("authenticationInfo"))
    key_name = text(ai.get("serviceAccountKeyName"))
    attrs: dict[str, Any] = account_attrs(e.principal)
    chain = delegation(e.pp)
    if key_name:
        credential = f"gcp-key:{last_segment(key_name)}"
        attrs[SESSION_KIND] = "key"
    else:
        credential = f"gcp-sa-token:{e.principal}"
        attrs["credential_inferred"] = "no service account key named: a short-lived token"
        if chain:
            attrs[SESSION_KIND] = "assumed"
        elif e.meta.get("callerNetwork") or e.ip == "gce-internal-ip":
            # Called from inside a VPC with a token, no key: the metadata server's workload token.
            attrs[SESSION_KIND] = WORKLOAD
    if chain:
        attrs["delegation_chain"] = chain
    return e.event(
        "used",
        EventType.CREDENTIAL_USED,
        nhi=e.nhi(e.principal),
        credential=credential,
        action=e.method_name or None,
        resource=text(e.pp.get("resourceName")) or None,
        outcome="failure" if e.failed else "success",
        context=Context(
            region=e.region(),
            ip=e.ip,
            user_agent=text(e.meta.get("callerSuppliedUserAgent")) or None,
        ),
        attrs=attrs,
    )
