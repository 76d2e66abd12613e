"""Name pools for the synthetic organisation.

Names are drawn from small fixed vocabularies so the demo output reads like a real estate
(``k8s:prod-eu-1/payments/ledger-api``) rather than random strings, and a ``NamePool`` hands
each one out once so two identities never collide on a name.
"""

from __future__ import annotations

import random

TEAMS = (
    "payments",
    "ledger",
    "identity",
    "search",
    "platform",
    "data",
    "ml",
    "growth",
    "billing",
    "risk",
    "mobile",
    "web",
    "infra",
    "sre",
    "security",
    "analytics",
)

SERVICES = (
    "ledger",
    "billing",
    "checkout",
    "catalog",
    "search",
    "fraud",
    "notify",
    "payout",
    "invoice",
    "orders",
    "profile",
    "session",
    "gateway",
    "export",
    "ingest",
    "report",
    "metrics",
    "audit",
    "pricing",
    "shipping",
    "inventory",
    "recommend",
    "email",
    "sms",
    "webhook",
    "scheduler",
    "sync",
    "backup",
    "etl",
    "features",
    "refunds",
    "kyc",
    "tax",
    "quotes",
    "loyalty",
    "geo",
)

ROLES = ("api", "worker", "consumer", "sync", "cron", "exporter", "indexer", "controller", "loader", "relay")

AGENTS = (
    "support-triage",
    "code-review",
    "sre-copilot",
    "invoice-reader",
    "sales-researcher",
    "doc-writer",
    "test-fixer",
    "oncall-summariser",
    "contract-checker",
    "data-analyst",
    "ticket-router",
    "release-notes",
    "security-triage",
    "expense-auditor",
    "translation",
    "meeting-notes",
)

# Person owners. ``LEAVERS`` is a separate pool: only stories that script a departure take a
# name from it, so an ordinary NHI can never be owned by someone the HR feed reports as gone.
PEOPLE = (
    "alice",
    "bruno",
    "chen",
    "dana",
    "emeka",
    "farah",
    "gustav",
    "hana",
    "ivan",
    "jules",
    "kofi",
    "lena",
    "mateo",
    "nadia",
    "omar",
    "priya",
    "quinn",
    "rosa",
    "sami",
    "tomas",
    "uma",
    "viktor",
    "wen",
    "yusuf",
    "zoe",
)

LEAVERS = (
    "arjun.leaver",
    "beatrice.leaver",
    "carlos.leaver",
    "dmitri.leaver",
    "elif.leaver",
    "fiona.leaver",
    "goran.leaver",
    "helga.leaver",
    "ines.leaver",
    "jonas.leaver",
    "kira.leaver",
    "luis.leaver",
)

DOMAIN = "example.com"


def person(name: str) -> str:
    return f"{name}@{DOMAIN}"


class NamePool:
    """Unique names per namespace, drawn with the generator's own ``random.Random``."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self._used: set[str] = set()
        self._leavers = list(LEAVERS)
        self._leaver_round = 0

    def unique(self, space: str, make: str) -> str:
        """``make`` if still free in ``space``, else ``make`` with a numeric suffix."""
        name, n = make, 1
        while f"{space}\x1f{name}" in self._used:
            n += 1
            name = f"{make}-{n}"
        self._used.add(f"{space}\x1f{name}")
        return name

    def service(self, space: str) -> str:
        rng = self.rng
        return self.unique(space, f"{rng.choice(SERVICES)}-{rng.choice(ROLES)}")

    def agent(self) -> str:
        return self.unique("agent", self.rng.choice(AGENTS))

    def team(self) -> str:
        return self.rng.choice(TEAMS)

    def owner(self) -> str:
        """An ordinary owner: mostly teams, sometimes a person who stays with the company."""
        if self.rng.random() < 0.25:
            return person(self.rng.choice(PEOPLE))
        return f"team-{self.rng.choice(TEAMS)}"

    def leaver(self) -> str:
        """A person nobody else owns anything through; the HR feed will report them as gone."""
        if not self._leavers:
            self._leaver_round += 1
            self._leavers = [f"{n}{self._leaver_round}" for n in LEAVERS]
        return person(self._leavers.pop(0))
