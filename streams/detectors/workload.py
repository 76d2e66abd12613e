"""context-drift for workload credentials: a credential the platform delivered to a workload (an EC2
instance profile, an ECS task or Lambda role, EKS IRSA / Pod Identity, a GCE metadata token, a
pod-bound token) used from somewhere that workload is not.

Such credentials carry no node, pod or address at issuance, so the signals compare where they are
used with what else is known. Each is a reason of its own, with its evidence:

- ``credential-outside-networks`` (high): used from an address outside every cloud provider's
  published ranges and the user's own networks (only judged when ranges are configured; private
  addresses are inside by definition);
- ``credential-in-others-seat`` (high): used from an address another principal - a person, a
  long-lived key, an assumed session - used within ``seat_window_s``: an operator's machine;
- ``credential-new-platform`` (high): the client platform changed for one credential, e.g. an
  on-box Linux SDK, then a laptop CLI on macOS or Windows;
- ``credential-off-known-address`` (medium): an EC2 instance's credential used from a public
  address other than the ones it was used from before.

Silent by construction: calls an AWS service made (no address), the instance's own agents on its
own address (same platform, same address), Lambda and ECS roles used from inside AWS (in the
provider's ranges; no fixed address to be off).
"""

from __future__ import annotations

import re
from typing import Any

from contract.events import Event
from contract.identity import SESSION_KIND
from contract.records import Finding, Severity
from contract.settings import Settings
from ingest.networks import is_private, network_map
from streams.detectors.common import raise_finding
from streams.state import ADDRESS_MEMORY, SEAT_MEMORY, CredentialState, NhiState, Seat, WorkloadUse

DETECTOR = "context-drift"
REASONS: tuple[str, ...] = (
    "credential-outside-networks",
    "credential-in-others-seat",
    "credential-new-platform",
    "credential-off-known-address",
)
SEATS_PER_ADDRESS = 8  # other principals' uses of one address this NHI remembers (the newest)
_ATTACK_DISTROS = ("kali", "parrot", "pentoo", "blackarch")
_WINDOWS = re.compile(r"windows|win64|win32|\bwin10\b")
_MAC = re.compile(r"darwin|mac ?os|macintosh|os/macos")


# The control channels of the platform's own agent on the instance (SSM): only the agent calls them.
_AGENT_CHANNELS = ("ssmmessages:", "ec2messages:")


def workload_judged(event: Event) -> bool:
    """Whether a use of a workload credential says where the workload's credential went: not when
    an AWS service made the call for it, nor when the platform's own agent talks to its channel."""
    if event.attrs and event.attrs.get(SESSION_KIND) == "service":
        return False
    return not (event.action and event.action.startswith(_AGENT_CHANNELS))


def client_platform(user_agent: str | None) -> str | None:
    """The operating system a client says it runs on ("linux", "macos", "windows", with the
    penetration-testing distributions apart), or None when its user agent does not say."""
    if not user_agent:
        return None
    ua = user_agent.lower()
    for distro in _ATTACK_DISTROS:
        if distro in ua:
            return f"linux/{distro}"
    if _WINDOWS.search(ua):
        return "windows"
    if _MAC.search(ua):
        return "macos"
    if "linux" in ua:
        return "linux"
    return None


def workload_use(event: Event, st: NhiState, cs: CredentialState, s: Settings) -> list[Finding]:
    """The workload signals for one use of a workload credential by this NHI."""
    address = event.context.ip
    out: list[Finding] = []
    platform = client_platform(event.context.user_agent)
    if platform is not None:
        if cs.platform is None:
            cs.platform = platform
        elif platform != cs.platform:
            out.extend(
                _raise(
                    event,
                    st,
                    cs,
                    s,
                    "credential-new-platform",
                    "high",
                    f"was used from {cs.platform} and now from {platform}",
                    {"platform": platform, "known_platform": cs.platform},
                )
            )
    if address is None:
        return out  # an AWS service acting for the credential: nowhere to judge
    where = network_map(s)
    if not where.empty and not is_private(address):
        owner = where.owner_of(address)
        if owner is None:
            out.extend(
                _raise(
                    event,
                    st,
                    cs,
                    s,
                    "credential-outside-networks",
                    "high",
                    f"was used from {address}, outside every provider's ranges and your networks",
                    {"address": address, "ranges": list(where.sources)},
                )
            )
    if event.context.instance and not is_private(address):
        known = [a for a in cs.addresses if not is_private(a)]
        if known and address not in cs.addresses:
            out.extend(
                _raise(
                    event,
                    st,
                    cs,
                    s,
                    "credential-off-known-address",
                    "medium",
                    f"of instance {event.context.instance} was used from {address}, not from its "
                    f"known address {', '.join(known)}",
                    {"address": address, "known_addresses": known, "instance": event.context.instance},
                )
            )
    if address not in cs.addresses:
        cs.addresses.append(address)
        del cs.addresses[:-ADDRESS_MEMORY]
    use = st.workload_uses[address] = WorkloadUse(
        event.time, cs.credential, event.context.user_agent, event.id, cs.task
    )
    _trim(st.workload_uses)
    for seat in st.seats.get(address, ()):
        out.extend(_seat_finding(event, st, cs, use, seat, address, s))
    return out


def seat_observed(event: Event, st: NhiState, s: Settings) -> list[Finding]:
    """Another principal used an address this NHI's workload credentials are used from."""
    address = event.context.ip
    if address is None or event.nhi is None:
        return []
    seat = Seat(event.nhi, event.time, event.context.user_agent, event.id)
    seats = st.seats.setdefault(address, [])
    seats.append(seat)
    del seats[:-SEATS_PER_ADDRESS]
    _trim(st.seats)
    use = st.workload_uses.get(address)
    if use is None:
        return []
    cs = st.credentials.get(use.credential)
    if cs is None:
        return []
    return _seat_finding(event, st, cs, use, seat, address, s)


def _seat_finding(
    event: Event, st: NhiState, cs: CredentialState, use: WorkloadUse, seat: Seat, address: str, s: Settings
) -> list[Finding]:
    gap = abs((use.time - seat.time).total_seconds())
    if seat.nhi == st.nhi or gap > s.seat_window_s:
        return []
    same_client = seat.user_agent is not None and use.user_agent == seat.user_agent
    how = "with the same client" if same_client else "with another client"
    return _raise(
        event,
        st,
        cs,
        s,
        "credential-in-others-seat",
        "high",
        f"was used from {address}, where {seat.nhi} acted {round(gap / 60)} minute(s) apart ({how})",
        {
            "address": address,
            "other_principal": seat.nhi,
            "same_client": same_client,
            "user_agent": use.user_agent,
            "other_user_agent": seat.user_agent,
        },
        extra=(use.event_id, seat.event_id),
    )


def _raise(
    event: Event,
    st: NhiState,
    cs: CredentialState,
    s: Settings,
    reason: str,
    severity: Severity,
    what: str,
    details: dict[str, object],
    extra: tuple[str, ...] = (),
) -> list[Finding]:
    key = f"{cs.credential}:{reason}"
    f = raise_finding(
        st,
        event,
        detector=DETECTOR,
        key=key,
        severity=severity,
        reason=reason,
        summary=f"workload credential {cs.credential} of {st.nhi} {what}",
        cap=s.evidence_cap,
        credential=cs.credential,
        task=cs.task,
        details={"key": key, "level": "credential", "signal": reason, **details},
        extra_evidence=tuple(e for e in (cs.issued_event, *extra) if e),
    )
    return [f] if f else []


def _trim(by_address: dict[str, Any]) -> None:
    while len(by_address) > SEAT_MEMORY:
        del by_address[next(iter(by_address))]
