"""entra, okta, github-audit: golden tests on real records (../shared/datasets), documented shapes
the samples lack (built from a real record as the envelope), secrets never copied, no crash on
any input, every sniffer claiming only its own records, and whole files through --format auto."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contract.errors import RecordRejected, RecordSkipped
from contract.events import Event, EventType
from ingest.parsers.cloudtrail import sniff_cloudtrail
from ingest.parsers.entra import parse_entra, sniff_entra
from ingest.parsers.github_audit import parse_github_audit, sniff_github_audit
from ingest.parsers.native import sniff_native
from ingest.parsers.okta import parse_okta, sniff_okta
from ingest.parsers.vault_audit import sniff_vault_audit
from ingest.parsing import ParseContext
from tests.vendor_datasets import (
    JSONISH,
    VAULT_SAMPLE,
    ctx,
    data_files,
    datasets,
    dumped,
    line,
    mutate,
    run_auto,
)

ENTRA = "azure_entra/panther-rule-tests.jsonl"
OKTA = "okta/panther-rule-tests.jsonl"
GITHUB = "github_audit/panther-rule-tests.jsonl"


def _events(parse: Callable[[Any, ParseContext], list[Event]], record: Any, **options: str) -> list[Event]:
    """The record's events; a skipped record (valid, about no NHI) has none."""
    try:
        return parse(record, ctx(**options))
    except RecordSkipped:
        return []


def skip_reason(parse: Callable[[Any, ParseContext], list[Event]], record: Any) -> str:
    with pytest.raises(RecordSkipped) as skipped:
        parse(record, ctx())
    return skipped.value.reason


def entra(record: Any, **options: str) -> list[Event]:
    return _events(parse_entra, record, **options)


def okta(record: Any) -> list[Event]:
    return _events(parse_okta, record)


def github(record: Any) -> list[Event]:
    return _events(parse_github_audit, record)


# --- entra ---------------------------------------------------------------------------------------

# Keyed by the service principal's object id, the id audit logs carry too; the appId is an alias.
SP = "entra:sp/4b6986ec-c49c-40c0-89ce-b2ac51213e39"
SP_ATTRS = {
    "app_id": "3b245ca3-dcce-4a54-a070-49ad8de02963",
    "service_principal_id": "4b6986ec-c49c-40c0-89ce-b2ac51213e39",
    "service_principal_name": "very-normal-service-principal",
    "client_credential_type": "none",
    "risk_level": "low",
    "city": "Springfield",
    "sign_in_id": "55270060-d8fe-435e-9bf2-219a1d456b60",
    "aliases": ["entra:appid/3b245ca3-dcce-4a54-a070-49ad8de02963"],
    "principal_kind": "machine",
    "kind_evidence": "service principal",
}


def test_entra_service_principal_sign_in() -> None:
    # Panther line 13: a client-credentials sign-in naming the app credential (key id) it used.
    assert dumped(entra(line(ENTRA, 12))) == [
        {
            "type": "credential.used",
            "time": "2023-07-27T13:59:53.691680Z",
            "id": "entra:170e3329c5d70b606088b058:used",
            "source": "entra",
            "nhi": SP,
            "credential": "2afc776a-4e79-4588-b2ad-f62c94d6bea8",
            "action": "sign-in",
            "resource": "Office 365 Management APIs",
            "outcome": "success",
            "context": {"region": "US", "ip": "12.12.12.12"},
            "attrs": SP_ATTRS,
        },
        {
            "type": "credential.issued",
            "time": "2023-07-27T13:59:53.691680Z",
            "id": "entra:170e3329c5d70b606088b058:issued",
            "source": "entra",
            "nhi": SP,
            "credential": "CXXXXXXXXXXXXXXXXXXXXX",
            "expires_at": "2023-07-27T14:59:53.691680Z",
            "method": "entra-client-credentials",
            "context": {"region": "US", "ip": "12.12.12.12"},
            "attrs": {**SP_ATTRS, "audience": "Office 365 Management APIs", "expires_at_assumed": True},
        },
    ]


def test_entra_failed_service_principal_sign_in_is_a_failed_use() -> None:
    (used,) = entra(line(ENTRA, 11))  # error 7000215: invalid client secret
    assert (used.type, used.nhi, used.outcome, used.attrs["error_code"]) == (
        EventType.CREDENTIAL_USED,
        "entra:sp/b1c34143-e405-4058-8e29-84596ad737b8",
        "failure",
        7000215,
    )


def test_entra_user_sign_in_is_a_person() -> None:
    assert dumped(entra(line(ENTRA, 2))) == [
        {
            "type": "credential.issued",
            "time": "2025-01-15T09:30:45.123000Z",
            "id": "entra:7902d784e9bc7c38e0a30b9e:issued",
            "source": "entra",
            "nhi": "entra:user/aragorn@lotr.com",
            "credential": "device-code-001",
            "expires_at": "2025-01-15T10:30:45.123000Z",
            "method": "entra-user-sign-in",
            "context": {
                "ip": "2.2.2.2",
                "user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/1.1.1.1",
            },
            "attrs": {
                "app_id": "29d9ed98-a469-4536-ade2-f981bc1d605e",
                "app_display_name": "Microsoft Authentication Broker",
                "audience": "Microsoft Graph",
                "expires_at_assumed": True,
                "principal_kind": "human",
                "kind_evidence": "interactive sign-in",
                "session_kind": "person",
            },
        }
    ]


def test_entra_credential_added_to_service_principal() -> None:
    used, issued = entra(line(ENTRA, 43))
    assert (used.nhi, used.attrs["principal_kind"]) == ("entra:user/frodo@lotr.com", "human")
    assert dumped([issued]) == [
        {
            "type": "credential.issued",
            "time": "2025-01-15T09:30:20.123456Z",
            "id": "entra:c5c3cbb2e031e0fe65ecb109:t0:issued:-",
            "source": "entra",
            "nhi": "entra:sp/sp-app-456",
            # This sample names no KeyIdentifier: the issuance is kept, without an id and, as
            # a client secret with no logged end date, without an expiry (long-lived).
            "method": "entra-app-credential",
            "attrs": {
                "activity": "Add service principal credentials",
                "correlation_id": "sp-creds-001",
                "changed_by": "entra:user/frodo@lotr.com",
                "object_id": "sp-app-456",
                "display_name": "Production API Service",
                "key_type": "Password",
                "principal_kind": "machine",
                "kind_evidence": "service principal",
                "session_kind": "key",  # a secret added to the service principal: a long-lived key
            },
        }
    ]
    _, registered = entra(line(ENTRA, 44))
    assert (registered.type, registered.nhi) == (EventType.IDENTITY_REGISTERED, "entra:sp/sp-new-789")


APP_ID = "9375c06d-c933-428c-bd52-5314a466cb9b"


def _app_audit(activity: str, target: dict[str, Any], by_app: bool = False) -> dict[str, Any]:
    record = copy.deepcopy(line(ENTRA, 43))  # a real ApplicationManagement entry as the envelope
    record["operationName"] = activity
    record["properties"].update(
        activityDisplayName=activity, operationName=activity, targetResources=[target]
    )
    if by_app:
        record["properties"]["initiatedBy"] = {
            "app": {"appId": "11111111-aaaa-4bbb-8ccc-222222222222", "displayName": "rotator"}
        }
    return record


def _key(kid: str, kind: str = "Password", name: str = "ci") -> str:
    return f"[KeyIdentifier={kid}, KeyType={kind}, KeyUsage=Verify, DisplayName={name}]"


def test_entra_secret_rotation_on_an_application() -> None:
    # Shaped like "Update application - Certificates and secrets management": KeyDescription lists
    # the keys before and after, as JSON-encoded strings; the operation name ends in a space.
    old, new = "0d1b5a0e-1111-4c2d-9e3f-aaaaaaaaaaaa", "7f3c9b2a-2222-4d5e-8f6a-bbbbbbbbbbbb"
    target = {
        "id": "c0ffee00-0000-4000-8000-000000000001",
        "displayName": "billing-sync",
        "type": "Application",
        "modifiedProperties": [
            {
                "displayName": "KeyDescription",
                "oldValue": orjson.dumps([_key(old)]).decode(),
                "newValue": orjson.dumps([_key(new, name="ci-2026")]).decode(),
            },
            {"displayName": "Included Updated Properties", "newValue": '"KeyDescription"'},
        ],
    }
    record = _app_audit("Update application \u2013 Certificates and secrets management ", target, by_app=True)
    record["properties"]["additionalDetails"] = [{"key": "AppId", "value": APP_ID}]
    used, issued, revoked = entra(record)
    # An initiator named by its appId only (no servicePrincipalId logged) is keyed by it.
    assert used.nhi == "entra:sp/11111111-aaaa-4bbb-8ccc-222222222222"
    assert used.attrs["principal_kind"] == "machine"
    assert (issued.type, issued.nhi, issued.credential, issued.expires_at) == (
        EventType.CREDENTIAL_ISSUED,
        # the application object (the app registration) by its object id; the appId an alias
        "entra:app/c0ffee00-0000-4000-8000-000000000001",
        new,
        None,
    )
    assert issued.attrs["aliases"] == [f"entra:appid/{APP_ID}"]
    assert (issued.attrs["key_type"], issued.attrs["key_display_name"]) == ("Password", "ci-2026")
    assert (revoked.type, revoked.credential) == (EventType.CREDENTIAL_REVOKED, old)


def test_entra_remove_credentials_owner_and_delete() -> None:
    kid = "5e5e5e5e-3333-4f4f-8a8a-cccccccccccc"
    target = {
        "id": "sp-app-456",
        "type": "ServicePrincipal",
        "modifiedProperties": [
            {"displayName": "KeyDescription", "oldValue": f'["{_key(kid)}"]', "newValue": "[]"}
        ],
    }
    _, revoked = entra(_app_audit("Remove service principal credentials", target))
    assert (revoked.type, revoked.nhi, revoked.credential) == (
        EventType.CREDENTIAL_REVOKED,
        "entra:sp/sp-app-456",
        kid,
    )
    owner_targets = [{"id": "sp-app-456", "type": "ServicePrincipal"}]
    record = _app_audit("Add owner to service principal", owner_targets[0])
    record["properties"]["targetResources"].append(
        {"id": "u1", "type": "User", "userPrincipalName": "Dana@Example.com"}
    )
    _, owned = entra(record)
    assert (owned.type, owned.owner) == (EventType.IDENTITY_UPDATED, "dana@example.com")
    assert owned.attrs["owner_source"] == "log"  # the owner is the user added, as logged
    _, gone = entra(_app_audit("Delete service principal", {"id": "sp-app-456", "type": "ServicePrincipal"}))
    assert (gone.type, gone.nhi) == (EventType.IDENTITY_DELETED, "entra:sp/sp-app-456")


def test_entra_managed_identity_sign_in() -> None:
    record = copy.deepcopy(line(ENTRA, 12))
    record["category"] = "ManagedIdentitySignInLogs"
    record["properties"]["managedIdentityType"] = "systemAssigned"
    _, issued = entra(record)
    # A managed identity is a service principal: one id whether it signs in or changes the directory.
    assert (issued.nhi, issued.method, issued.attested) == (SP, "entra-managed-identity", True)
    assert (issued.attrs["kind_evidence"], issued.attrs["session_kind"]) == ("managed identity", "workload")
    assert issued.expires_at == issued.time + timedelta(hours=24)
    _, short = entra(record, token_lifetime_s="600")
    assert short.expires_at == short.time + timedelta(seconds=600)


def test_entra_secrets_never_reach_events() -> None:
    secret = "Xy7~PLANTEDclientSECRETvalue.abcdefghij0123"
    record = copy.deepcopy(line(ENTRA, 43))
    record["properties"]["targetResources"][0]["modifiedProperties"].append(
        {
            "displayName": "PasswordCredentials",
            "oldValue": "[]",
            "newValue": orjson.dumps([{"secretText": secret}]).decode(),
        }
    )
    record["properties"]["clientSecret"] = secret
    record["properties"]["targetResources"][0]["displayName"] = f"client_secret={secret}"
    sign_in = copy.deepcopy(line(ENTRA, 12))
    sign_in["properties"]["userAgent"] = f'python-msal client_secret="{secret}"'
    sign_in["properties"]["client_secret"] = secret
    blob = " ".join(e.model_dump_json() for e in [*entra(record), *entra(sign_in)])
    assert secret not in blob


def test_entra_service_principal_is_one_identity_in_sign_ins_and_audit_logs() -> None:
    """Sign-ins carry servicePrincipalId and appId; an audit log's initiator often only the
    servicePrincipalId (appId null), its target only the object id. All are one id."""
    sign_in = entra(line(ENTRA, 12))
    audit = copy.deepcopy(line(ENTRA, 43))
    audit["properties"]["initiatedBy"] = {
        "app": {
            "appId": None,
            "displayName": "very-normal-service-principal",
            "servicePrincipalId": "4b6986ec-c49c-40c0-89ce-b2ac51213e39",
            "servicePrincipalName": None,
        }
    }
    audit["properties"]["targetResources"][0]["id"] = "4b6986ec-c49c-40c0-89ce-b2ac51213e39"
    used, issued = entra(audit)
    assert {e.nhi for e in [*sign_in, used, issued]} == {SP}


def test_entra_service_principal_creation_records_its_creator() -> None:
    _, registered = entra(line(ENTRA, 44))  # cloudadmin@company.com adds "New Automation Service"
    assert (registered.type, registered.nhi, registered.owner) == (
        EventType.IDENTITY_REGISTERED,
        "entra:sp/sp-new-789",
        "cloudadmin@company.com",
    )
    assert (registered.attrs["created_by"], registered.attrs["owner_source"]) == (
        "entra:user/cloudadmin@company.com",
        "creator",
    )


def test_entra_microsoft_first_party_apps_are_managed_by_microsoft() -> None:
    record = copy.deepcopy(line(ENTRA, 12))
    record["properties"]["appOwnerTenantId"] = "f8cdef31-a31e-4b4a-93e4-5f571e91255a"
    _, issued = entra(record)
    assert (issued.attrs["managed_by"], issued.attrs["kind_evidence"]) == (
        "microsoft",
        "Microsoft first-party application",
    )
    record["properties"]["appOwnerTenantId"] = "a2aa49aa-2c0c-49d2-af87-f402c421df0b"  # the customer's
    _, own = entra(record)
    assert "managed_by" not in own.attrs


def test_entra_adfs_sign_in_is_a_person_not_a_reject() -> None:
    """ADFSSignInLogs (AD FS sign-ins, Microsoft Entra Connect Health) in a diagnostic export."""
    record = copy.deepcopy(line(ENTRA, 2))
    record["category"] = "ADFSSignInLogs"
    record["properties"]["authenticationRequirement"] = "multiFactorAuthentication"
    record["properties"]["tokenIssuerType"] = "ADFederationServices"
    (issued,) = entra(record)
    assert (issued.nhi, issued.method, issued.attrs["kind_evidence"]) == (
        "entra:user/aragorn@lotr.com",
        "entra-adfs-sign-in",
        "AD FS federated sign-in with MFA",
    )
    assert sniff_entra(record)


# Rows as Log Analytics returns them (flat PascalCase columns, the table in Type; dynamic columns
# such as Status and LocationDetails as objects or JSON text), from the AADServicePrincipalSignInLogs,
# SigninLogs and AuditLogs table references.
LA_SP_SIGN_IN = {
    "TenantId": "a2aa49aa-2c0c-49d2-af87-f402c421df0b",
    "TimeGenerated": "2024-03-04T10:00:05.123Z",
    "CreatedDateTime": "2024-03-04T10:00:00.456Z",
    "Category": "ServicePrincipalSignInLogs",
    "Type": "AADServicePrincipalSignInLogs",
    "AppId": "3b245ca3-dcce-4a54-a070-49ad8de02963",
    "ServicePrincipalId": "4b6986ec-c49c-40c0-89ce-b2ac51213e39",
    "ServicePrincipalName": "very-normal-service-principal",
    "ServicePrincipalCredentialKeyId": "2afc776a-4e79-4588-b2ad-f62c94d6bea8",
    "ClientCredentialType": "clientSecret",
    "IPAddress": "20.1.2.3",
    "Location": "NL",
    "LocationDetails": '{"city":"Amsterdam","countryOrRegion":"NL"}',
    "ResultType": "0",
    "Status": {"errorCode": 0},
    "ResourceDisplayName": "Microsoft Graph",
    "UniqueTokenIdentifier": "tok-la-1",
    "Id": "sign-in-la-1",
}


def test_entra_log_analytics_rows_are_read_like_exports() -> None:
    assert sniff_entra(LA_SP_SIGN_IN)
    used, issued = entra(LA_SP_SIGN_IN)
    assert (used.nhi, used.credential, issued.credential) == (
        SP,
        "2afc776a-4e79-4588-b2ad-f62c94d6bea8",
        "tok-la-1",
    )
    assert issued.time == datetime(2024, 3, 4, 10, 0, 0, 456000, tzinfo=UTC)
    assert (issued.context.region, issued.context.ip, issued.attrs["city"]) == ("NL", "20.1.2.3", "Amsterdam")
    assert issued.attrs["session_kind"] == "key"  # a client secret
    failed = {**LA_SP_SIGN_IN, "ResultType": "7000215", "Status": '{"errorCode": 7000215}'}
    (denied,) = entra(failed)
    assert (denied.outcome, denied.attrs["error_code"]) == ("failure", 7000215)
    user = {
        "TimeGenerated": "2024-03-04T10:01:00Z",
        "CreatedDateTime": "2024-03-04T10:00:58Z",
        "Type": "SigninLogs",
        "Category": "SignInLogs",
        "UserPrincipalName": "Dana@Example.com",
        "AppId": "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
        "IPAddress": "198.51.100.4",
        "ResultType": "0",
        "AuthenticationRequirement": "multiFactorAuthentication",
    }
    (person,) = entra(user)
    assert (person.nhi, person.attrs["kind_evidence"]) == (
        "entra:user/dana@example.com",
        "interactive sign-in with MFA",
    )
    audit = {
        "TimeGenerated": "2024-03-04T11:00:00Z",
        "ActivityDateTime": "2024-03-04T10:59:59Z",
        "Type": "AuditLogs",
        "Category": "ApplicationManagement",
        "OperationName": "Add owner to service principal",
        "ActivityDisplayName": "Add owner to service principal",
        "Result": "success",
        "InitiatedBy": '{"user":{"userPrincipalName":"admin@example.com","ipAddress":"198.51.100.9"}}',
        "TargetResources": [
            {"id": "4b6986ec-c49c-40c0-89ce-b2ac51213e39", "type": "ServicePrincipal"},
            {"id": "u-2", "type": "User", "userPrincipalName": "Owner@Example.com"},
        ],
    }
    assert sniff_entra(audit)
    by, owned = entra(audit)
    assert (by.nhi, by.context.ip) == ("entra:user/admin@example.com", "198.51.100.9")
    assert (owned.nhi, owned.owner, owned.attrs["owner_source"]) == (SP, "owner@example.com", "log")


def test_entra_other_categories_are_skipped_not_rejected() -> None:
    record = copy.deepcopy(line(ENTRA, 12))
    record["category"] = "ProvisioningLogs"
    assert skip_reason(parse_entra, record) == (
        "Entra provisioninglogs records are not read: only sign-in and audit logs are"
    )
    record["category"] = "SomethingElse"
    with pytest.raises(RecordRejected, match="is not a sign-in or audit log"):
        parse_entra(record, ctx())


# --- okta ----------------------------------------------------------------------------------------


def test_okta_api_token_created_used_and_revoked() -> None:
    assert dumped(okta(line(OKTA, 9))) == [
        {
            "type": "credential.used",
            "time": "2021-01-08T21:28:34.875000Z",
            "id": "okta:bbed03a2dcc400c9fbc42d62:used",
            "source": "okta",
            "nhi": "okta:user/user@example.com",
            "action": "system.api_token.create",
            "resource": "Token 00Tpki36zlWjhjQ1u2p4",
            "outcome": "success",
            "attrs": {
                "okta_uuid": "2a992f80-d1ad-4f62-900e-8c68bb72a21b",
                "principal_kind": "human",
                "kind_evidence": "e-mail-shaped Okta login",
            },
        },
        {
            "type": "identity.registered",
            "time": "2021-01-08T21:28:34.875000Z",
            "id": "okta:bbed03a2dcc400c9fbc42d62:registered",
            "source": "okta",
            "nhi": "okta:api-token/00Tpki36zlWjhjQ1u2p4",
            "owner": "user@example.com",
            "attrs": {
                "okta_uuid": "2a992f80-d1ad-4f62-900e-8c68bb72a21b",
                "token_name": "test_key",
                "changed_by": "okta:user/user@example.com",
                "principal_kind": "machine",
                "kind_evidence": "Okta API token",
                "session_kind": "key",
                # the user who created the token answers for it: it acts with their permissions
                "created_by": "okta:user/user@example.com",
                "owner_source": "creator",
            },
        },
        {
            "type": "credential.issued",
            "time": "2021-01-08T21:28:34.875000Z",
            "id": "okta:bbed03a2dcc400c9fbc42d62:issued",
            "source": "okta",
            "nhi": "okta:api-token/00Tpki36zlWjhjQ1u2p4",
            "credential": "00Tpki36zlWjhjQ1u2p4",
            "method": "okta-api-token",
            "attrs": {
                "okta_uuid": "2a992f80-d1ad-4f62-900e-8c68bb72a21b",
                "token_name": "test_key",
                "changed_by": "okta:user/user@example.com",
                "principal_kind": "machine",
                "kind_evidence": "Okta API token",
                "session_kind": "key",
            },
        },
    ]
    _, revoked = okta(line(OKTA, 10))
    assert (revoked.type, revoked.nhi, revoked.credential) == (
        EventType.CREDENTIAL_REVOKED,
        "okta:api-token/00Tpki36zlWjhjQ1u2p4",
        "00Tpki36zlWjhjQ1u2p4",
    )
    # A request made with an API token is the token's use, whoever created it.
    assert dumped(okta(line(OKTA, 21))) == [
        {
            "type": "credential.used",
            "time": "2024-05-02T18:46:21.121000Z",
            "id": "okta:49f52cd7110da9a003b3aa25:used",
            "source": "okta",
            "nhi": "okta:api-token/00T1bjatrp6Nl1dOc5d7",
            "credential": "00T1bjatrp6Nl1dOc5d7",
            "action": "system.org.rate_limit.warning",
            "resource": "URL Pattern /api/v1/logs",
            "outcome": "success",
            "context": {"ip": "11.22.33.44", "user_agent": "Go-http-client/2.0"},
            "attrs": {
                "okta_uuid": "44aeb388-08b4-11ef-9cec-73ffcb6f9fdd",
                "acting_user": "jim.kalafut@panther.com",
                "principal_kind": "machine",
                "kind_evidence": "Okta API token",
                "session_kind": "key",
            },
        }
    ]


def test_okta_lowercase_eventtype_user_grant_and_token_reuse() -> None:
    (code,) = okta(line(OKTA, 11))  # spelled "eventtype"; an OIDC code grant for a user
    assert (code.nhi, code.attrs["client_id"], code.attrs["principal_kind"]) == (
        "okta:user/abcd123",
        "okta.1234.",
        "human",
    )
    (reuse,) = okta(line(OKTA, 14))
    assert (reuse.action, reuse.outcome, reuse.attrs["token_reuse"]) == ("app.token.reuse", "failure", True)


def _client_credentials(kind: str, result: str = "SUCCESS") -> dict[str, Any]:
    # Shaped like Okta's documented app.oauth2.as.token.grant.access_token for a service app.
    record = copy.deepcopy(line(OKTA, 11))
    record["eventtype"] = kind
    record["actor"] = {
        "id": "0oa1svcbilling",
        "type": "PublicClientApp",
        "alternateId": "0oa1svcbilling",
        "displayName": "billing-sync",
    }
    record["debugcontext"]["debugData"] = {"grantType": "client_credentials", "requestId": "r1"}
    record["outcome"] = {"result": result}
    record["target"] = [
        {
            "id": "AT.8gYpL1x",
            "type": "access_token",
            "alternateId": "unknown",
            "detailEntry": {
                "expires": "2022-12-13T16:22:58.000Z",
                "subject": "0oa1svcbilling",
                "scopes": "billing.read",
            },
        },
        {"id": "aus1default", "type": "AuthorizationServer", "displayName": "default"},
    ]
    return record


def test_okta_service_app_client_credentials() -> None:
    used, issued = okta(_client_credentials("app.oauth2.as.token.grant.access_token"))
    assert (used.nhi, used.attrs["principal_kind"], used.attrs["session_kind"]) == (
        "okta:app/0oa1svcbilling",
        "machine",
        "key",  # a client secret or private key: the app's own long-lived credential
    )
    assert (
        issued.type,
        issued.nhi,
        issued.credential,
        issued.method,
        issued.expires_at and issued.expires_at.isoformat(),
    ) == (
        EventType.CREDENTIAL_ISSUED,
        "okta:app/0oa1svcbilling",
        "AT.8gYpL1x",
        "okta-oauth-client-credentials",
        "2022-12-13T16:22:58+00:00",
    )
    (denied,) = okta(_client_credentials("app.oauth2.as.token.grant.access_token", "FAILURE"))
    assert denied.outcome == "failure"
    _, revoked = okta(_client_credentials("app.oauth2.as.token.revoke"))
    assert (revoked.type, revoked.credential) == (EventType.CREDENTIAL_REVOKED, "AT.8gYpL1x")


def test_okta_no_identity_and_unusable_records() -> None:
    assert okta(line(OKTA, 54)) == []  # security.threat.detected: the actor is an IP address
    with pytest.raises(RecordRejected, match="published is missing"):
        okta(line(OKTA, 40))  # published: "redacted"


def test_okta_secrets_never_reach_events() -> None:
    secret = "00PLANTEDoktaAPItokenVALUE_abcdefghijklmnop"
    record = copy.deepcopy(line(OKTA, 9))
    record["target"][0]["details"] = {"token": secret}
    record["debugContext"]["debugData"] = {"client_secret": secret}
    record["client"] = {
        "ipAddress": "1.2.3.4",
        "userAgent": {"rawUserAgent": f'curl Authorization: SSWS token="{secret}"'},
    }
    blob = " ".join(e.model_dump_json() for e in okta(record))
    assert secret not in blob


# --- github ---------------------------------------------------------------------------------------


def test_github_bot_workflow_run_with_installation_token() -> None:
    assert dumped(github(line(GITHUB, 97))) == [
        {
            "type": "credential.used",
            "time": "2025-10-15T18:45:47.048000Z",
            "id": "gh:e8d3faa9f6eed7c5771a5f06:used",
            "source": "github-audit",
            # the bot account github-actions[bot] is the GitHub Actions app acting: one identity
            "nhi": "github:app/github-actions",
            "credential": "1111111111111",
            "task": "ci:run/YourCompany/YourRepo/123456789",
            "action": "workflows.created_workflow_run",
            "resource": "YourCompany/YourRepo",
            "outcome": "success",
            "context": {"user_agent": "launch/production"},
            "attrs": {
                "actor": "github-actions[bot]",
                "org": "YourCompany",
                "programmatic_access_type": "GitHub App server-to-server token",
                "principal_kind": "machine",
                "kind_evidence": "GitHub App installation token",
                "managed_by": "github",
                "session_kind": "workload",  # the GITHUB_TOKEN minted for this workflow run
            },
        },
        {
            "type": "task.started",
            "time": "2025-10-15T18:45:47Z",
            "id": "gh:e8d3faa9f6eed7c5771a5f06:started",
            "source": "github-audit",
            "nhi": "github:app/github-actions",
            "task": "ci:run/YourCompany/YourRepo/123456789",
            "context": {"user_agent": "launch/production"},
            "attrs": {
                "actor": "github-actions[bot]",
                "org": "YourCompany",
                "programmatic_access_type": "GitHub App server-to-server token",
                "workflow": "Your Workflow",
                "event": "workflow_dispatch",
                "head_branch": "bot-branch",
            },
        },
    ]
    (ended,) = github(line(GITHUB, 1))  # a scheduled run completing; its actor is a person
    assert (ended.type, ended.task, ended.nhi, ended.attrs["conclusion"]) == (
        EventType.TASK_ENDED,
        "ci:run/your-org/panther-analysis-copy/5555555555",
        None,
        "failure",
    )


def test_github_oauth_token_use() -> None:
    assert dumped(github(line(GITHUB, 68))) == [
        {
            "type": "credential.used",
            "time": "2023-11-20T21:20:09.423000Z",
            "id": "gh:3d781cf7495d3f41baa8c093:used",
            "source": "github-audit",
            # the OAuth token is the user's credential, not an identity of its own
            "nhi": "github:user/acme-inc-user",
            "credential": "0123456789",
            "action": "git.clone",
            "resource": "acme-inc/a-repo",
            "outcome": "success",
            "context": {"region": "US", "ip": "5.6.7.8", "user_agent": "git/2.30.2"},
            "attrs": {
                "actor": "acme-inc-user",
                "org": "acme-inc",
                "programmatic_access_type": "OAuth access token",
                "session_kind": "key",  # a token alone says nothing of who holds it: no kind
            },
        }
    ]


def test_github_deploy_keys_apps_and_bots() -> None:
    _, key = github(line(GITHUB, 89))
    # A deploy key is the repository's credential (GitHub names no user for it); cat created it.
    assert (key.type, key.nhi, key.method, key.expires_at) == (
        EventType.CREDENTIAL_ISSUED,
        "github:deploy/my-org/my-repo",
        "github-deploy-key",
        None,
    )
    assert key.attrs["created_by"] == "github:user/cat"
    # No key id in this sample: nothing to revoke, and the repository's deploy access lives on.
    assert [e.type for e in github(line(GITHUB, 90))] == [EventType.CREDENTIAL_USED]
    _, installed = github(line(GITHUB, 34))
    assert (installed.type, installed.nhi, installed.owner, installed.attrs["owner_source"]) == (
        EventType.IDENTITY_REGISTERED,
        "github:app/microsoft-teams-for-github",
        "user_name",
        "creator",
    )
    assert installed.attrs["aliases"] == ["github:app/Microsoft Teams for GitHub"]
    (bot,) = github(line(GITHUB, 53))
    assert (bot.nhi, bot.attrs["principal_kind"], bot.attrs["managed_by"]) == (
        "github:app/secret-scanning",
        "machine",
        "github",
    )
    (person,) = github(line(GITHUB, 0))
    assert (person.nhi, person.attrs["principal_kind"], person.attrs["kind_evidence"]) == (
        "github:user/cat",
        "human",
        "GitHub web session",
    )
    assert skip_reason(parse_github_audit, line(GITHUB, 67)) == (
        "GitHub secret_scanning_alert entry by GitHub's own system actor"
    )


def _stamped(index: int, **extra: Any) -> dict[str, Any]:
    record = copy.deepcopy(line(GITHUB, index))
    record.setdefault("@timestamp", 1700000000000)
    record.update(extra)
    return record


def test_github_personal_access_tokens() -> None:
    # Panther's PAT samples carry no timestamp (rejected as they are); stamped, they map like this.
    # A token is a credential of its user: one identity whether the user works in the browser
    # or through any number of tokens.
    (used,) = github(_stamped(73, token_id="98765"))
    assert (used.nhi, used.credential, used.action, used.attrs["session_kind"]) == (
        "github:user/cargo-user",
        "98765",
        "repo.destroy",
        "key",
    )
    (web,) = github(_stamped(73, programmatic_access_type=None))
    assert (web.nhi, web.attrs["principal_kind"]) == ("github:user/cargo-user", "human")
    (anonymous,) = github(_stamped(74))
    assert anonymous.nhi == "github:user/developer"
    (deploy,) = github(_stamped(72, public_key_id="4242"))
    assert (deploy.nhi, deploy.credential) == ("github:deploy/organization/ruby-app", "4242")
    created = {
        "action": "personal_access_token.access_granted",
        "actor": "dana",
        "user": "dana",
        "org": "acme",
        "token_id": 555,
        "@timestamp": 1700000000000,
        "token_expires_at": "2024-02-13T00:00:00Z",
    }
    _, issued = github(created)
    assert (issued.nhi, issued.credential, issued.expires_at and issued.expires_at.isoformat()) == (
        "github:user/dana",
        "555",
        "2024-02-13T00:00:00+00:00",
    )
    _, revoked = github({**created, "action": "personal_access_token.access_revoked"})
    assert (revoked.type, revoked.nhi, revoked.credential) == (
        EventType.CREDENTIAL_REVOKED,
        "github:user/dana",
        "555",
    )
    with pytest.raises(RecordRejected, match="no usable timestamp"):
        github(line(GITHUB, 73))


def test_github_secrets_never_reach_events() -> None:
    secret = "ghp_PLANTEDpersonalACCESStoken0123456789ab"
    record = _stamped(68)
    record["data"] = {"token": secret}
    record["user_agent"] = f"git/2.4 Authorization: Bearer {secret}"
    record["repo"] = "acme-inc/a-repo"
    blob = " ".join(e.model_dump_json() for e in github(record))
    assert secret not in blob


# --- every parser: robustness, sniffing, whole files ---------------------------------------------

PARSERS: dict[str, tuple[Callable[[Any, ParseContext], list[Event]], str, int]] = {
    "entra": (parse_entra, ENTRA, 47),
    "okta": (parse_okta, OKTA, 66),
    "github-audit": (parse_github_audit, GITHUB, 101),
}


def _safe(parse: Callable[[Any, ParseContext], list[Event]], record: Any) -> None:
    try:
        events = parse(record, ctx())
    except (RecordRejected, RecordSkipped):  # a reject, or a valid record about no NHI
        return
    assert all(isinstance(e, Event) for e in events)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(PARSERS)), JSONISH)
def test_arbitrary_values_only_ever_reject(name: str, value: Any) -> None:
    _safe(PARSERS[name][0], value)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(sorted(PARSERS)), st.integers(0, 1000), st.lists(st.integers(0, 50), max_size=5), JSONISH
)
def test_mutated_real_records_only_ever_reject(name: str, index: int, path: list[int], value: Any) -> None:
    parse, rel, count = PARSERS[name]
    _safe(parse, mutate(line(rel, index % count), path, value))


SNIFFERS = {
    "cloudtrail": sniff_cloudtrail,
    "vault-audit": sniff_vault_audit,
    "entra": sniff_entra,
    "okta": sniff_okta,
    "github-audit": sniff_github_audit,
}
OWNER = {"cloudtrail": "cloudtrail", "azure_entra": "entra", "okta": "okta", "github_audit": "github-audit"}
NATIVE = [
    {
        "type": "credential.used",
        "time": "2026-05-04T08:00:00Z",
        "nhi": "github:bot/x",
        "action": "repo.create",
    },
    {
        "type": "credential.issued",
        "time": "2026-05-04T08:00:00Z",
        "nhi": "okta:app/x",
        "attrs": {"eventType": "a.b"},
    },
    {"type": "identity.registered", "time": "2026-05-04T08:00:00Z", "nhi": "entra:sp/x", "attrs": {}},
    {"type": "task.ended", "time": "2026-05-04T08:00:00Z", "task": "ci:run/x/1"},
]


def test_each_sniffer_claims_its_own_records_and_nothing_else() -> None:
    folders = ["cloudtrail", "azure_entra", "okta", "github_audit", "k8saudit", "gcpaudit", "aks_kube_audit"]
    for path in data_files(*folders):
        folder = path.relative_to(datasets()).parts[0]
        owner = OWNER.get(folder)
        for raw in path.read_bytes().splitlines():
            try:
                value = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue
            claims = {name for name, sniff in SNIFFERS.items() if sniff(value)}
            expected = set() if owner is None or "malformed" in path.name else {owner}
            assert claims == expected, (path.name, claims)
    for raw in VAULT_SAMPLE.read_bytes().splitlines():
        assert {n for n, sniff in SNIFFERS.items() if sniff(orjson.loads(raw))} == {"vault-audit"}
    for record in NATIVE:
        assert sniff_native(record)
        assert not any(sniff(record) for sniff in SNIFFERS.values()), record


# file -> (events, rejects) through Collector("auto"); the rejects are Panther test records that
# carry no timestamp at all (Okta "redacted"/missing published, GitHub entries without any time).
EXPECTED = {"azure_entra": (50, 0), "okta": (58, 8), "github_audit": (76, 27)}


@pytest.mark.parametrize("folder", sorted(EXPECTED))
def test_every_file_replays_through_auto(folder: str) -> None:
    (path,) = data_files(folder)
    events, rejects = run_auto(path)
    assert not [r for r in rejects if r.reason.startswith("parser error")]
    assert all(r.reason and r.source == OWNER[folder] for r in rejects)
    assert {e.source for e in events} == {OWNER[folder]}
    assert (len(events), len(rejects)) == EXPECTED[folder]
    # People are user accounts, shown to be people by their record; a user account's id never
    # carries its kind (one id per principal, whatever the record says it is).
    humans = [e for e in events if e.attrs.get("principal_kind") == "human"]
    assert humans and all(e.nhi and ":user/" in e.nhi for e in humans)
    assert not [e for e in events if e.nhi and ":human/" in e.nhi]


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("client_secret=abcd1234 rest", False),
        ("password: hunter22", False),
        ("Authorization: SSWS 00abcdefghijklmnop", False),
        ("my_token=zzzzzzzz", False),
        ("arn:aws:secretsmanager:us-east-1:1:secret:prod/db-AbC", True),  # an ARN, not a pair
        ("secret/data/billing/db", True),  # a Vault path
        ("token_type=JWT KeyType=Password", True),
    ],
)
def test_free_text_secrets_beyond_quoted_pairs(text: str, kept: bool) -> None:
    from ingest.secrets import scrub_free

    out = scrub_free(text, "k")
    assert (out == text) is kept, out
