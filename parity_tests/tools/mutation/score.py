"""The mutation score of ``make mutation``, and the check that no survivor is unexplained.

Run after ``mutmut run`` (from the repository root): ``python -m parity_tests.tools.mutation.score``.

Reads mutmut's results through its own CLI (``mutmut export-cicd-stats``, ``mutmut
results``, ``mutmut show``), and the table of equivalent mutants in docs/mutation.md. An
equivalent mutant is named there by what it is, not by its id (ids and line numbers move
when scratch is edited): the file, the function, and the original and mutated source line
(stripped). A survivor matching a row is *equivalent*; any other survivor, and any mutant no
test reaches ("no tests"), is *unexplained* and makes the exit status 1. A row that matches
no survivor is reported as stale (the code changed or a test now kills it), not an error.

    score = killed / (mutants - equivalent)
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]  # the repository (parity_tests/tools/mutation/score.py)
DOC = ROOT / "docs" / "mutation.md"
MUTMUT = str(Path(sys.executable).with_name("mutmut"))
_SEP = "\u01c1"  # mutmut's class separator in mangled names: x<SEP>Class<SEP>method


def _mutmut(*args: str) -> str:
    return subprocess.run([MUTMUT, *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout


def where(mutant: str) -> tuple[str, str]:
    """``scratch.lstm.xǁLSTMTapeǁ__init____mutmut_58`` -> ("scratch/lstm.py", "LSTMTape.__init__")."""
    mangled = mutant.partition("__mutmut_")[0]
    module, _, func = mangled.rpartition(".")
    if func.startswith("x" + _SEP):
        _, cls, meth = func.split(_SEP)
        func = f"{cls}.{meth}"
    else:
        func = func[2:]  # "x_name"
    return module.replace(".", "/") + ".py", func


def change(mutant: str) -> tuple[str, str]:
    """The original and the mutated line of ``mutant`` (stripped), from ``mutmut show``."""
    diff = _mutmut("show", mutant).splitlines()
    old = [ln[1:].strip() for ln in diff if ln.startswith("-") and not ln.startswith("---")]
    new = [ln[1:].strip() for ln in diff if ln.startswith("+") and not ln.startswith("+++")]
    return " / ".join(old), " / ".join(new)


def equivalents(doc: Path = DOC) -> dict[tuple[str, str, str, str], str]:
    """The table rows of docs/mutation.md: (file, function, original, mutated) -> reason."""
    rows = {}
    for line in doc.read_text(encoding="utf-8").splitlines():
        if not line.startswith("| `scratch/"):
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        file, func, old, new, reason = (c.replace("\\|", "|") for c in cells)
        rows[tuple(c.strip("`") for c in (file, func, old, new))] = reason
    return rows


def main() -> int:
    _mutmut("export-cicd-stats")
    stats = json.loads((ROOT / "mutants" / "mutmut-cicd-stats.json").read_text())
    statuses = {}
    for line in _mutmut("results").splitlines():
        name, _, status = line.strip().rpartition(": ")
        if name:
            statuses[name] = status
    table = equivalents()
    matched, unexplained = set(), []
    for name, status in sorted(statuses.items()):
        file, func = where(name)
        old, new = change(name)
        key = (file, func, old, new)
        if status == "survived" and key in table:
            matched.add(key)
        else:
            unexplained.append(f"  {status}: {file} {func}: `{old}` -> `{new}`  ({name})")
    total, killed = stats["total"], stats["killed"]
    equivalent = len([n for n, s in statuses.items() if s == "survived"]) - len(
        [u for u in unexplained if u.startswith("  survived")])
    score = killed / (total - equivalent) if total > equivalent else 0.0
    print(f"mutants {total}: killed {killed}, survived {stats['survived']} "
          f"({equivalent} equivalent, listed in docs/mutation.md), timeout {stats['timeout']}, "
          f"no tests {stats['no_tests']}, suspicious {stats['suspicious']}, segfault {stats['segfault']}")
    print(f"mutation score: {killed}/{total - equivalent} = {100 * score:.2f} % (killed / non-equivalent mutants)")
    stale = sorted(set(table) - matched)
    if stale:
        print(f"{len(stale)} row(s) of docs/mutation.md match no survivor (code changed, or now killed):")
        for file, func, old, new in stale:
            print(f"  {file} {func}: `{old}` -> `{new}`")
    if unexplained:
        print(f"{len(unexplained)} UNEXPLAINED mutant(s): kill each with a test, or add it to docs/mutation.md "
              "with the reason it is equivalent:")
        print("\n".join(unexplained))
        return 1
    print("no unexplained survivor")
    return 0


if __name__ == "__main__":
    sys.exit(main())
