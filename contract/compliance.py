"""Which detector covers which control: the framework catalogues and the mapping, as data.

One module, read by the OCSF alerts (each record names its controls), the compliance exports
(per-control status) and the table in docs/compliance.md (``markdown_table``), so the three never disagree.

Frameworks: OWASP Non-Human Identities Top 10 (2025), NIST CSF 2.0 (the subcategories that concern
identities, assets and monitoring; the rest of CSF is out of this tool's reach and not listed),
and the seven tenets of NIST SP 800-207 (Zero Trust Architecture, section 2.1).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Control:
    id: str
    name: str
    # Why the pipeline cannot assess it, when no detector covers it (shown as "not assessed").
    gap: str = ""


@dataclass(frozen=True, slots=True)
class Framework:
    key: str  # the --framework value
    title: str  # OCSF compliance.standards value
    controls: tuple[Control, ...]

    def control(self, control_id: str) -> Control:
        for c in self.controls:
            if c.id == control_id:
                return c
        raise KeyError(f"{self.key} has no control {control_id}")


OWASP_NHI = Framework(
    "owasp-nhi-top10",
    "OWASP Non-Human Identities Top 10 (2025)",
    (
        Control("NHI1", "Improper Offboarding"),
        Control("NHI2", "Secret Leakage"),
        Control(
            "NHI3",
            "Vulnerable Third-Party NHI",
            "third-party integrations and their vendors are not observed",
        ),
        Control(
            "NHI4", "Insecure Authentication", "authentication protocol strength is not in the event contract"
        ),
        Control("NHI5", "Overprivileged NHI", "granted permissions are not collected, only their use"),
        Control(
            "NHI6",
            "Insecure Cloud Deployment Configurations",
            "deployment configuration (CI/CD, IaC) is not collected",
        ),
        Control("NHI7", "Long-Lived Secrets"),
        Control("NHI8", "Environment Isolation"),
        Control("NHI9", "NHI Reuse"),
        Control("NHI10", "Human Use of NHI", "no detector separates human from machine use of one NHI yet"),
    ),
)

NIST_CSF = Framework(
    "nist-csf-2",
    "NIST CSF 2.0",
    (
        Control(
            "GV.RR-02",
            "Roles, responsibilities, and authorities related to cybersecurity risk management are established, "
            "communicated, understood, and enforced",
        ),
        Control(
            "ID.AM-02",
            "Inventories of software, services, and systems managed by the organization are maintained",
        ),
        Control(
            "ID.AM-08",
            "Systems, hardware, software, services, and data are managed throughout their life cycles",
        ),
        Control(
            "PR.AA-01",
            "Identities and credentials for authorized users, services, and hardware are managed by the organization",
        ),
        Control(
            "PR.AA-02", "Identities are proofed and bound to credentials based on the context of interactions"
        ),
        Control("PR.AA-03", "Users, services, and hardware are authenticated"),
        Control(
            "PR.AA-04",
            "Identity assertions are protected, conveyed, and verified",
            "token signing and verification happen in the identity providers, not in the logs collected",
        ),
        Control(
            "PR.AA-05",
            "Access permissions, entitlements, and authorizations are defined in a policy, managed, enforced, and "
            "reviewed, and incorporate the principles of least privilege and separation of duties",
        ),
        Control(
            "PR.PS-04",
            "Log records are generated and made available for continuous monitoring",
            "a property of the log sources; the pipeline consumes logs but does not judge their completeness",
        ),
        Control(
            "DE.CM-01",
            "Networks and network services are monitored to find potentially adverse events",
            "network flows are not collected",
        ),
        Control(
            "DE.CM-03",
            "Personnel activity and technology usage are monitored to find potentially adverse events",
        ),
        Control(
            "DE.CM-09",
            "Computing hardware and software, runtime environments, and their data are monitored to find potentially "
            "adverse events",
        ),
        Control(
            "DE.AE-02", "Potentially adverse events are analyzed to better understand associated activities"
        ),
    ),
)

NIST_800_207 = Framework(
    "nist-800-207",
    "NIST SP 800-207",
    (
        Control(
            "Tenet 1",
            "All data sources and computing services are considered resources",
            "an architecture decision; nothing in identity activity shows it",
        ),
        Control(
            "Tenet 2",
            "All communication is secured regardless of network location",
            "transport security is not in the collected events",
        ),
        Control("Tenet 3", "Access to individual enterprise resources is granted on a per-session basis"),
        Control(
            "Tenet 4",
            "Access to resources is determined by dynamic policy, including the observable state of client identity, "
            "application/service, and the requesting asset, and may include other behavioral and environmental "
            "attributes",
        ),
        Control(
            "Tenet 5",
            "The enterprise monitors and measures the integrity and security posture of all owned and associated assets",
        ),
        Control(
            "Tenet 6",
            "All resource authentication and authorization are dynamic and strictly enforced before access is allowed",
        ),
        Control(
            "Tenet 7",
            "The enterprise collects as much information as possible about the current state of assets, network "
            "infrastructure and communications and uses it to improve its security posture",
            "the pipeline is such a collector; whether collection is 'as much as possible' is not measurable here",
        ),
    ),
)

FRAMEWORKS: dict[str, Framework] = {f.key: f for f in (OWASP_NHI, NIST_CSF, NIST_800_207)}


@dataclass(frozen=True, slots=True)
class Rule:
    """Controls a detector's findings bear on. ``reason_prefix`` narrows a rule to some reasons."""

    detector: str
    controls: dict[str, tuple[str, ...]]  # framework key -> control ids
    reason_prefix: str | None = None
    why: str = ""


RULES: tuple[Rule, ...] = (
    Rule(
        "token-outlived-task",
        {
            "owasp-nhi-top10": ("NHI7", "NHI1"),
            "nist-csf-2": ("PR.AA-01", "PR.AA-05", "ID.AM-08", "DE.CM-09"),
            "nist-800-207": ("Tenet 3", "Tenet 6"),
        },
        why="a credential that stays valid after its task is a long-lived secret that was never offboarded; "
        "access should end with the session it was granted for",
    ),
    Rule(
        "unowned-actor",
        {
            "owasp-nhi-top10": ("NHI1",),
            "nist-csf-2": ("GV.RR-02", "ID.AM-02", "ID.AM-08", "PR.AA-01", "DE.CM-09"),
            "nist-800-207": ("Tenet 4", "Tenet 5"),
        },
        why="an active NHI with no accountable owner (never registered, owner departed, identity deleted)",
    ),
    Rule(
        "context-drift",
        {
            "owasp-nhi-top10": ("NHI9",),
            "nist-csf-2": ("PR.AA-02", "PR.AA-03", "DE.CM-03", "DE.CM-09", "DE.AE-02"),
            "nist-800-207": ("Tenet 4", "Tenet 6"),
        },
        why="an identity or credential used outside the context it is bound to",
    ),
    Rule(
        "context-drift",
        {"owasp-nhi-top10": ("NHI2",)},
        reason_prefix="credential-",
        why="one credential presented from a different pod, node, instance or IP than it was issued to: copied",
    ),
    Rule(
        "context-drift",
        {"owasp-nhi-top10": ("NHI8",)},
        reason_prefix="new-",
        why="an identity active in a cluster, namespace, environment or region outside its baseline",
    ),
)


def controls_for(detector: str, reason: str = "") -> dict[str, tuple[str, ...]]:
    """{framework key: control ids} a finding of ``detector`` (with ``reason``) bears on."""
    out: dict[str, list[str]] = {}
    for rule in RULES:
        if rule.detector != detector:
            continue
        if rule.reason_prefix is not None and not reason.startswith(rule.reason_prefix):
            continue
        for key, ids in rule.controls.items():
            bucket = out.setdefault(key, [])
            bucket.extend(i for i in ids if i not in bucket)
    return {k: tuple(v) for k, v in out.items()}


def detectors_for(framework: str, control_id: str) -> list[str]:
    """The detectors whose findings (of any or of some reasons) bear on a control."""
    found: list[str] = []
    for rule in RULES:
        if control_id in rule.controls.get(framework, ()) and rule.detector not in found:
            found.append(rule.detector)
    return found


def detector_names() -> list[str]:
    return list(dict.fromkeys(r.detector for r in RULES))


def markdown_table() -> str:
    """The coverage table of docs/compliance.md, rendered from the data above."""
    lines = [
        "| Detector | OWASP NHI Top 10 (2025) | NIST CSF 2.0 | NIST SP 800-207 |",
        "| --- | --- | --- | --- |",
    ]
    for det in detector_names():
        cells = []
        for fw in FRAMEWORKS.values():
            parts = []
            for rule in RULES:
                if rule.detector != det:
                    continue
                for cid in rule.controls.get(fw.key, ()):
                    label = f"{cid} {fw.control(cid).name}" if fw.key == "owasp-nhi-top10" else cid
                    label += f" (reasons `{rule.reason_prefix}*`)" if rule.reason_prefix else ""
                    parts.append(label)
            cells.append("<br>".join(parts) or "-")
        lines.append(f"| `{det}` | " + " | ".join(cells) + " |")
    lines += ["", "Not assessed (no detector covers them):", ""]
    for fw in FRAMEWORKS.values():
        for c in fw.controls:
            if not detectors_for(fw.key, c.id):
                lines.append(f"- {fw.title} {c.id} {c.name}: {c.gap}")
    return "\n".join(lines)
