"""Runbooks as data: one for every reason a detector declares, carried by the alerts, and
overridable with a site's own file."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from alerts.ocsf import to_ocsf
from alerts.runbooks import ENV, catalogue, guidance
from contract.errors import ConfigError
from streams.detectors import DETECTORS, REASONS
from tests.alert_helpers import alert, finding
from tests.scenario import play
from tests.test_engine_semantics import story


def test_every_declared_reason_has_its_own_runbook() -> None:
    assert set(REASONS) == set(DETECTORS)
    missing = [(d, r) for d, reasons in REASONS.items() for r in reasons if (d, r) not in catalogue()]
    assert missing == [], f"add runbooks to alerts/runbooks.yaml for {missing}"
    for (det, reason), rb in catalogue().items():
        assert reason in REASONS.get(det, ()), f"runbook for an undeclared reason {det}/{reason}"
        assert rb.steps and rb.references and all(r.url.startswith("https://") for r in rb.references)
        assert any("owasp.org" in r.url for r in rb.references), (det, reason)


def test_the_engine_gives_only_declared_reasons() -> None:
    out, _ = play(story())
    assert out.findings
    for f in out.findings:
        assert f.reason in REASONS[f.detector], (f.detector, f.reason)


def test_steps_name_the_identity_credential_task_and_owner() -> None:
    g = guidance(finding(reason="used-after-task-end"), owner="team-payments")
    text = g.remediation_text
    assert g.specific and g.confidence == "high"
    assert "jti-1" in text and "pod:p1" in text and "k8s:prod/payments/ledger" in text
    assert "{" not in text and text.startswith("1. ")


def test_alerts_carry_the_runbook() -> None:
    rec = to_ocsf(alert(finding(reason="outlived-task")))
    g = guidance(finding(reason="outlived-task"), owner="team-payments")
    assert rec["finding_info"]["title"] == g.title and rec["finding_info"]["desc"] == g.description
    assert rec["remediation"]["desc"] == g.remediation_text
    assert rec["remediation"]["references"] == [r.url for r in g.references]
    assert (rec["confidence_id"], rec["confidence"]) == (3, "High")


def test_an_unknown_reason_gets_the_generic_runbook_not_an_error() -> None:
    g = guidance(replace(finding(), reason="brand-new-reason"), why="why it matters")
    assert not g.specific and g.description == "why it matters" and g.steps


def test_a_site_file_overrides_and_bad_files_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    own = tmp_path / "runbooks.yaml"
    entry = {"title": "Page the payments on-call", "description": "Our own procedure.", "confidence": "low",
             "steps": ["Open a ticket in PAY for {nhi}."],
             "references": [{"title": "wiki", "url": "https://wiki.example.com/nhi"}]}  # fmt: skip
    own.write_text(yaml.safe_dump({"runbooks": {"token-outlived-task": {"outlived-task": entry}}}))
    catalogue.cache_clear()
    monkeypatch.setenv(ENV, str(own))
    try:
        g = guidance(finding(reason="outlived-task"))
        assert g.title == "Page the payments on-call" and g.steps == (
            "Open a ticket in PAY for k8s:prod/payments/ledger.",
        )
        assert guidance(finding(reason="used-after-task-end")).specific  # the rest stay built in
        own.write_text(yaml.safe_dump({"runbooks": {"x": {"y": {**entry, "confidence": "sure"}}}}))
        catalogue.cache_clear()
        with pytest.raises(ConfigError, match=r"runbooks .*confidence"):
            catalogue()
    finally:
        monkeypatch.delenv(ENV)
        catalogue.cache_clear()
