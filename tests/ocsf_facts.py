"""Facts of the OCSF 1.8.0 schema that the alerts are held to: for the Detection Finding class
(2004, with what it inherits from Finding and Base Event) and each object the alerts emit, the
attributes' requirement, type, whether they are arrays, and their enum ids.

Source: the ocsf-schema repository at v1.8.0 (events/findings/detection_finding.json,
events/findings/finding.json, events/base_event.json, objects/*.json, dictionary.json); the
same definitions are rendered at https://schema.ocsf.io/1.8.0/classes/detection_finding. The
v1.8.0 changelog changes none of the attributes below (it adds metadata.total_queued_duration and
resource_details.provider, both optional and not emitted).

Only attributes that are required, recommended, deprecated or emitted are listed: an attribute
the alerts emit that is not here is an invented one, and the test fails on it.
"""

from __future__ import annotations

SCHEMA_VERSION = "1.8.0"

REQUIRED, RECOMMENDED, OPTIONAL = "required", "recommended", "optional"

# name: (requirement, type, is_array, enum ids or None, deprecated)
Attr = tuple[str, str, bool, tuple[int, ...] | None, bool]

OBJECTS: dict[str, dict[str, Attr]] = {
    "detection_finding": {
        "activity_id": (REQUIRED, "integer_t", False, (0, 1, 2, 3, 99), False),
        "activity_name": (OPTIONAL, "string_t", False, None, False),
        "category_name": (OPTIONAL, "string_t", False, None, False),
        "category_uid": (REQUIRED, "integer_t", False, (2,), False),
        "class_name": (OPTIONAL, "string_t", False, None, False),
        "class_uid": (REQUIRED, "integer_t", False, (2004,), False),
        "confidence": (OPTIONAL, "string_t", False, None, False),
        "confidence_id": (RECOMMENDED, "integer_t", False, (0, 1, 2, 3, 99), False),
        "end_time": (OPTIONAL, "timestamp_t", False, None, False),
        "evidences": (RECOMMENDED, "evidences", True, None, False),
        "finding_info": (REQUIRED, "finding_info", False, None, False),
        "is_alert": (RECOMMENDED, "boolean_t", False, None, False),
        "message": (RECOMMENDED, "string_t", False, None, False),
        "metadata": (REQUIRED, "metadata", False, None, False),
        "observables": (RECOMMENDED, "observable", True, None, False),
        "remediation": (OPTIONAL, "remediation", False, None, False),
        "resources": (RECOMMENDED, "resource_details", True, None, False),
        "severity": (OPTIONAL, "string_t", False, None, False),
        "severity_id": (REQUIRED, "integer_t", False, (0, 1, 2, 3, 4, 5, 6, 99), False),
        "start_time": (OPTIONAL, "timestamp_t", False, None, False),
        "status": (OPTIONAL, "string_t", False, None, False),
        "status_code": (RECOMMENDED, "string_t", False, None, False),
        "status_detail": (RECOMMENDED, "string_t", False, None, False),
        "status_id": (RECOMMENDED, "integer_t", False, (0, 1, 2, 3, 4, 5, 6, 99), False),
        "time": (REQUIRED, "timestamp_t", False, None, False),
        "timezone_offset": (RECOMMENDED, "integer_t", False, None, False),
        "type_name": (OPTIONAL, "string_t", False, None, False),
        "type_uid": (REQUIRED, "long_t", False, (200400, 200401, 200402, 200403, 200499), False),
        "unmapped": (OPTIONAL, "object", False, None, False),
    },
    "metadata": {
        "correlation_uid": (OPTIONAL, "string_t", False, None, False),
        "log_name": (RECOMMENDED, "string_t", False, None, False),
        "original_time": (RECOMMENDED, "string_t", False, None, False),
        "product": (REQUIRED, "product", False, None, False),
        "reporter": (RECOMMENDED, "reporter", False, None, False),
        "sequence": (OPTIONAL, "integer_t", False, None, False),
        "tenant_uid": (RECOMMENDED, "string_t", False, None, False),
        "uid": (OPTIONAL, "string_t", False, None, False),
        "version": (REQUIRED, "string_t", False, None, False),
    },
    "product": {
        "name": (RECOMMENDED, "string_t", False, None, False),
        "uid": (RECOMMENDED, "string_t", False, None, False),
        "vendor_name": (RECOMMENDED, "string_t", False, None, False),
        "version": (RECOMMENDED, "string_t", False, None, False),
    },
    "finding_info": {
        "analytic": (RECOMMENDED, "analytic", False, None, False),
        "created_time": (OPTIONAL, "timestamp_t", False, None, False),
        "desc": (OPTIONAL, "string_t", False, None, False),
        "first_seen_time": (OPTIONAL, "timestamp_t", False, None, False),
        "last_seen_time": (OPTIONAL, "timestamp_t", False, None, False),
        "modified_time": (OPTIONAL, "timestamp_t", False, None, False),
        "product_uid": (OPTIONAL, "string_t", False, None, True),
        "related_events": (OPTIONAL, "related_event", True, None, False),
        "related_events_count": (OPTIONAL, "integer_t", False, None, False),
        "title": (RECOMMENDED, "string_t", False, None, False),
        "types": (OPTIONAL, "string_t", True, None, False),
        "uid": (REQUIRED, "string_t", False, None, False),
    },
    "analytic": {
        "desc": (OPTIONAL, "string_t", False, None, False),
        "name": (RECOMMENDED, "string_t", False, None, False),
        "type": (OPTIONAL, "string_t", False, None, False),
        "type_id": (REQUIRED, "integer_t", False, (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 99), False),
        "uid": (RECOMMENDED, "string_t", False, None, False),
    },
    "related_event": {
        "product": (OPTIONAL, "product", False, None, False),
        "product_uid": (OPTIONAL, "string_t", False, None, True),  # deprecated since 1.4.0: product.uid
        "severity_id": (RECOMMENDED, "integer_t", False, (0, 1, 2, 3, 4, 5, 6, 99), False),
        "type_uid": (RECOMMENDED, "long_t", False, None, False),
        "uid": (REQUIRED, "string_t", False, None, False),
    },
    "remediation": {
        "desc": (REQUIRED, "string_t", False, None, False),
        "kb_articles": (OPTIONAL, "string_t", True, None, True),  # deprecated since 1.1.0
        "references": (OPTIONAL, "string_t", True, None, False),
    },
    "resource_details": {
        "data": (OPTIONAL, "json_t", False, None, False),
        "hostname": (RECOMMENDED, "hostname_t", False, None, False),
        "ip": (RECOMMENDED, "ip_t", False, None, False),
        "labels": (OPTIONAL, "string_t", True, None, False),
        "name": (RECOMMENDED, "string_t", False, None, False),
        "namespace": (OPTIONAL, "string_t", False, None, False),
        "owner": (RECOMMENDED, "user", False, None, False),
        "role": (OPTIONAL, "string_t", False, None, False),
        "role_id": (RECOMMENDED, "integer_t", False, (0, 1, 2, 3, 4, 99), False),
        "type": (OPTIONAL, "string_t", False, None, False),
        "uid": (RECOMMENDED, "string_t", False, None, False),
    },
    "user": {
        "credential_uid": (OPTIONAL, "string_t", False, None, True),  # deprecated since 1.6.0
        "has_mfa": (RECOMMENDED, "boolean_t", False, None, False),
        "name": (RECOMMENDED, "string_t", False, None, False),
        "type": (OPTIONAL, "string_t", False, None, False),
        "type_id": (RECOMMENDED, "integer_t", False, (0, 1, 2, 3, 4, 99), False),
        "uid": (RECOMMENDED, "string_t", False, None, False),
    },
    "evidences": {
        **{
            name: (RECOMMENDED, obj, False, None, False)
            for name, obj in {
                "api": "api",
                "connection_info": "network_connection_info",
                "container": "container",
                "database": "database",
                "databucket": "databucket",
                "device": "device",
                "dst_endpoint": "network_endpoint",
                "email": "email",
                "file": "file",
                "http_request": "http_request",
                "http_response": "http_response",
                "job": "job",
                "process": "process",
                "query": "dns_query",
                "script": "script",
                "tls": "tls",
                "url": "url",
                "user": "user",
            }.items()
        },
        "actor": (RECOMMENDED, "actor", False, None, False),
        "data": (OPTIONAL, "json_t", False, None, False),
        "ja4_fingerprint_list": (RECOMMENDED, "ja4_fingerprint", True, None, False),
        "name": (OPTIONAL, "string_t", False, None, False),
        "resources": (RECOMMENDED, "resource_details", True, None, False),
        "src_endpoint": (RECOMMENDED, "network_endpoint", False, None, False),
        "uid": (OPTIONAL, "string_t", False, None, False),
    },
    "actor": {
        "process": (RECOMMENDED, "process", False, None, False),
        "user": (RECOMMENDED, "user", False, None, False),
    },
    "network_endpoint": {
        "hostname": (RECOMMENDED, "hostname_t", False, None, False),
        "instance_uid": (RECOMMENDED, "string_t", False, None, False),
        "interface_name": (RECOMMENDED, "string_t", False, None, False),
        "interface_uid": (RECOMMENDED, "string_t", False, None, False),
        "ip": (RECOMMENDED, "ip_t", False, None, False),
        "name": (RECOMMENDED, "string_t", False, None, False),
        "owner": (RECOMMENDED, "user", False, None, False),
        "port": (RECOMMENDED, "port_t", False, None, False),
        "svc_name": (RECOMMENDED, "string_t", False, None, False),
        "type_id": (RECOMMENDED, "integer_t", False, None, False),
        "uid": (RECOMMENDED, "string_t", False, None, False),
    },
    "observable": {
        "name": (RECOMMENDED, "string_t", False, None, False),
        "type": (OPTIONAL, "string_t", False, None, False),
        # 0 Unknown, 2 IP Address (ip_t), 4 User Name, 10 Resource UID (resource_uid_t),
        # 19 User Credential ID (credential_uid), 21 User, 31 user.uid, 99 Other; the rest are unused here
        "type_id": (REQUIRED, "integer_t", False, (0, 2, 4, 10, 19, 21, 31, 99), False),
        "value": (OPTIONAL, "string_t", False, None, False),
    },
}

# "at least one of" constraints of the objects emitted.
AT_LEAST_ONE: dict[str, tuple[str, ...]] = {
    "product": ("name", "uid"),
    "analytic": ("name", "uid"),
    "resource_details": ("name", "uid"),
    "user": ("account", "name", "uid"),
    "actor": ("process", "user", "invoked_by", "session", "app_name", "app_uid"),
    "network_endpoint": (
        "ip",
        "uid",
        "name",
        "hostname",
        "svc_name",
        "instance_uid",
        "interface_uid",
        "interface_name",
        "domain",
    ),
    "evidences": (
        "actor",
        "api",
        "connection_info",
        "data",
        "database",
        "databucket",
        "device",
        "dst_endpoint",
        "email",
        "file",
        "process",
        "query",
        "resources",
        "src_endpoint",
        "url",
        "user",
        "job",
        "script",
    ),
}

# Recommended attributes the alerts leave out, and why. Anything recommended, not emitted and not
# here fails the test.
NOT_APPLICABLE: dict[tuple[str, str], str] = {
    ("detection_finding", "status_code"): "no vendor status code: the pipeline is the vendor",
    ("metadata", "reporter"): "the product that reports is the one that detects (metadata.product)",
    ("metadata", "tenant_uid"): "one store is one tenant",
    ("related_event", "severity_id"): "cited events are raw identity events, not OCSF findings",
    ("related_event", "type_uid"): "cited events are native events, not OCSF classes",
    ("resource_details", "hostname"): "an identity or a credential has no host name",
    ("resource_details", "ip"): "an identity or a credential has no address (event IPs are in evidences)",
    ("user", "has_mfa"): "service identities have no MFA; owners come from the inventory without it",
    ("actor", "process"): "the events name the identity, not a process",
    ("network_endpoint", "hostname"): "events carry the source IP only",
    ("network_endpoint", "instance_uid"): "events carry the source IP only",
    ("network_endpoint", "interface_name"): "events carry the source IP only",
    ("network_endpoint", "interface_uid"): "events carry the source IP only",
    ("network_endpoint", "name"): "events carry the source IP only",
    ("network_endpoint", "owner"): "events carry the source IP only",
    ("network_endpoint", "port"): "events carry the source IP only",
    ("network_endpoint", "svc_name"): "events carry the source IP only",
    ("network_endpoint", "type_id"): "events carry the source IP only",
    ("network_endpoint", "uid"): "events carry the source IP only",
    **{
        ("evidences", name): "identity events have no files, processes, mail, DNS, TLS or HTTP payloads"
        for name in (
            "api",
            "connection_info",
            "container",
            "database",
            "databucket",
            "device",
            "dst_endpoint",
            "email",
            "file",
            "http_request",
            "http_response",
            "job",
            "process",
            "query",
            "script",
            "tls",
            "url",
            "user",
            "ja4_fingerprint_list",
        )
    },
    # Present when known; absent when the store has nothing to fill them with.
    ("resource_details", "owner"): "only when the identity has a registered owner",
    ("evidences", "src_endpoint"): "only when the cited event has an IP",
    ("evidences", "resources"): "only when the cited event names what it acted on",
}
