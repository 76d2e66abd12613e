"""The figures of `make mutate`: mutants killed per mutated module, from mutmut's results in mutants/.

mutmut keeps one ``<module>.py.meta`` JSON file per mutated module, mapping each mutant to the exit
code of its test run (mutmut's ``status_by_exit_code``): 1 and 3 mean a test failed (killed), the
timeout codes that the tests never finished (killed too: the change was noticed), 0 that every test
passed (survived). Mutants that were not run (no covering test, skipped, interrupted) are reported
apart; anything else (mutmut's "suspicious", a segfault) counts as not killed.

    python -m bench.mutation_report [--root mutants] [--json]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

KILLED = frozenset({1, 3, 36, 37, -24, 24, 152, 255})  # a failing test, a type check, a timeout
NOT_RUN = frozenset({None, 2, 5, 33, 34})  # not checked, interrupted, no tests, skipped


@dataclass(frozen=True, slots=True)
class ModuleScore:
    module: str
    mutants: int
    killed: int
    survived: int
    not_run: int

    @property
    def ratio(self) -> float:
        judged = self.killed + self.survived
        return self.killed / judged if judged else 1.0


def scores(root: Path) -> list[ModuleScore]:
    out = []
    for meta in sorted(root.rglob("*.py.meta")):
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        if not codes:
            continue
        module = meta.relative_to(root).as_posix().removesuffix(".py.meta").replace("/", ".")
        killed = sum(1 for c in codes.values() if c in KILLED)
        not_run = sum(1 for c in codes.values() if c in NOT_RUN)
        out.append(ModuleScore(module, len(codes), killed, len(codes) - killed - not_run, not_run))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.mutation_report", description=__doc__.split("\n\n")[0])
    p.add_argument("--root", default="mutants", help="mutmut's working directory (default: mutants)")
    p.add_argument("--json", action="store_true", help="one JSON object per module")
    args = p.parse_args(argv)
    rows = scores(Path(args.root))
    if not rows:
        print(f"no mutmut results under {args.root}: run `make mutate` first")
        return 1
    if args.json:
        for r in rows:
            print(json.dumps({**asdict(r), "ratio": round(r.ratio, 3)}))
        return 0
    print(f"{'module':<36} {'mutants':>8} {'killed':>7} {'survived':>9} {'killed %':>9}")
    for r in rows:
        print(f"{r.module:<36} {r.mutants:>8} {r.killed:>7} {r.survived:>9} {100 * r.ratio:>8.1f}%")
    total = ModuleScore(
        "all", *(sum(getattr(r, f) for r in rows) for f in ("mutants", "killed", "survived", "not_run"))
    )
    print(
        f"{total.module:<36} {total.mutants:>8} {total.killed:>7} {total.survived:>9} {100 * total.ratio:>8.1f}%"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
