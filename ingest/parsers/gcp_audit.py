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
- calls by people that touch no service account -> ``[]``.

Sources need Data Access audit logs (ADMIN_READ) for iamcredentials and sts: token minting is a
data-access event, off by default.
"""

from __future__ import annotations

from typing import Any

from contract.errors import RecordRejected
from contract.events import Context, Event, EventType
from ingest.parsing import ParseContext
from ingest.providers.gcp_entry import Entry, delegation, is_service_account, last_segment
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
    return build(_entry_events, Entry(value, ctx))


def _entry_events(e: Entry) -> list[Event]:
    out: list[Event] = []
    if is_service_account(e.principal):
        out.append(_used(e))
    if is_gke(e.pp):
        out.extend(gke_events(e))
    else:
        out.extend(lifecycle_events(e))
    return out


def _used(e: Entry) -> Event:
    ai = as_dict(e.pp.get("authenticationInfo"))
    key_name = text(ai.get("serviceAccountKeyName"))
    attrs: dict[str, Any] = {}
    if key_name:
        credential = f"gcp-key:{last_segment(key_name)}"
    else:
        credential = f"gcp-sa-token:{e.principal}"
        attrs["credential_inferred"] = "no service account key named: a short-lived token"
    chain = delegation(e.pp)
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
