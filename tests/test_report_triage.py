"""The report for triage, rendered by a real headless Chromium: identity sections linked from every
list, trust factors with deltas and evidence, timelines, findings with summaries, and a continuous
time axis. The screenshot is kept (its path is printed) for a person to look at."""

from __future__ import annotations

import itertools
import os
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from nhi.cli import main
from queries.compliance.report import time_series
from store import Store
from tests.test_export import CHROMIUM, _chromium


class Dom(HTMLParser):
    """Ids, links and the elements the assertions look at, from Chromium's serialised DOM."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.hrefs: list[str] = []
        self.sections: list[dict[str, str]] = []
        self.classes: dict[str, int] = {}
        self.axis: list[str] = []
        self._in_axis_text = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "a" and a.get("href", "").startswith("#"):
            self.hrefs.append(a["href"][1:])
        if tag == "section" and "identity" in a.get("class", ""):
            self.sections.append(a)
        for c in a.get("class", "").split():
            self.classes[f"{tag}.{c}"] = self.classes.get(f"{tag}.{c}", 0) + 1
        self._in_axis_text = tag == "text" and a.get("fill") == "#1f2937" and a.get("text-anchor") == "middle"

    def handle_data(self, data: str) -> None:
        if self._in_axis_text and len(data) == 5 and data[2] == ":":
            self.axis.append(data)
        self._in_axis_text = False


def test_time_axis_is_continuous() -> None:
    rows = [{"hour": "2026-05-04 00:00", "detector": "d", "n": 2}, {"hour": "2026-05-04 07:00", "detector": "d", "n": 1},
            {"hour": "2026-05-05 01:00", "detector": "e", "n": 4}]  # fmt: skip
    columns, series = time_series(rows)
    assert len(columns) == 26 and columns[0] == "2026-05-04 00:00" and columns[-1] == "2026-05-05 01:00"
    assert series["d"][0] == 2 and series["d"][7] == 1 and sum(series["d"]) == 3 and series["e"][-1] == 4
    days, daily = time_series(
        [{**rows[0], "hour": "2026-05-01 10:00"}, {**rows[1], "hour": "2026-05-09 10:00"}]
    )
    assert days == [f"2026-05-{d:02d}" for d in range(1, 10)] and daily["d"] == [2, 0, 0, 0, 0, 0, 0, 0, 1]


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("report")
    db = base / "demo.duckdb"
    assert main(["demo", "--db", str(db), "--identities", "150", "--seed", "3", "-q"]) == 0
    assert (
        main(["export", "--db", str(db), "--framework", "owasp-nhi-top10", "--out", str(base / "pkg")]) == 0
    )
    return db, base / "pkg"


def _expected(db: Path) -> tuple[set[str], int, dict[str, int]]:
    with Store.open(db, read_only=True) as store:
        with_findings = {r[0] for r in store.rows("SELECT DISTINCT nhi FROM finding_history")}
        riskiest = {
            r[0]
            for r in store.rows("SELECT nhi FROM identities ORDER BY trust, open_findings DESC, nhi LIMIT 10")
        }
        findings = store.rows("SELECT count(*) FROM findings")[0][0]
        trust = dict(store.rows("SELECT nhi, trust FROM identities"))
    return with_findings | riskiest, int(findings), trust


def test_the_report_answers_why_in_headless_chromium(
    package: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("CI is set but /usr/bin/chromium is missing")
        pytest.skip("no /usr/bin/chromium (apt-get install chromium)")
    db, pkg = package
    report = pkg / "report.html"
    html = report.read_text()
    assert "<script" not in html and "http://" not in html.replace(
        'xmlns="http://www.w3.org/2000/svg"', ""
    ).replace("http://adaptivecards", "")
    dom_text = _chromium("--dump-dom", report.as_uri()).stdout.decode()
    dom = Dom()
    dom.feed(dom_text)
    chosen, findings, trust = _expected(db)

    # a section per identity with a finding, plus the riskiest; each says why its score is what it is
    assert {s["data-nhi"] for s in dom.sections} == chosen
    assert dom.classes["tr.factor"] >= len(chosen) and dom.classes.get("td.neg", 0) > 0
    for s in dom.sections[:5]:
        block = dom_text.split(f'id="{s["id"]}"', 1)[1].split("</section>", 1)[0]
        assert f"trust <b>{trust[s['data-nhi']]}</b>" in block and "Why trust" in block
        assert 'class="kind-event"' in block or "Nothing in the range" in block
    assert dom.classes["tr.kind-finding"] >= findings and dom.classes["tr.kind-trust"] > 0
    assert sum(1 for h in dom.hrefs if "-ev-" in h) > len(chosen)  # factor evidence links into the timelines

    # findings with their summaries; every link in every list lands on something
    assert dom.classes["tr.finding"] == findings
    missing = [h for h in dom.hrefs if h not in dom.ids]
    assert missing == [], missing[:5]
    to_sections = {h for h in dom.hrefs if h.startswith("nhi-")}
    assert {s["id"] for s in dom.sections} <= to_sections  # each section is linked from a list
    assert dom.classes["tr.risky"] == 10 and sum(1 for h in dom.hrefs if h.startswith("f-")) > findings

    # the hourly axis has no gaps: consecutive labels differ by the same step
    hours = [int(h[:2]) for h in dom.axis]
    assert len(hours) >= 3 and len({(b - a) % 24 for a, b in itertools.pairwise(hours)}) == 1

    shot = pkg.parent / "report.png"
    done = _chromium(f"--screenshot={shot}", "--window-size=1280,4000", report.as_uri())
    assert shot.exists(), done.stderr.decode(errors="replace")[-2000:]
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 50_000
    keep = os.environ.get("NHI_TEST_ARTIFACTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / "report-triage.png")
    with capsys.disabled():
        print(f"\nreport screenshot: {shot}")
