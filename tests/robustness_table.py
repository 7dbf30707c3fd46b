"""Print issue 9's robustness matrix by running it: case, command, expected, outcome.

    python tests/robustness_table.py                 # commands in this process (fast), as the tests run them
    python tests/robustness_table.py --subprocess    # every command as `python -m dreamvideo` (slower)
    python tests/robustness_table.py --markdown      # a Markdown table

Each row runs the real commands of one case in ``tests/robustness/cases.py`` on inputs it
makes with ffmpeg, and checks them; the outcome is what came out (``FAIL: why`` if a check
did not hold). Exit status 1 if any case failed.
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_NUM_THREADS", "1")

from tests.robustness.cases import run_all  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subprocess", action="store_true", help="run every command as a subprocess")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    rows = run_all(force_subprocess=args.subprocess)
    if args.markdown:
        print("| area | case | command | expected | outcome |")
        print("|---|---|---|---|---|")
        for case, commands, status, outcome in rows:
            cmds = "<br>".join(f"`{c}`" for c in commands)
            print(f"| {case.area} | {case.name} | {cmds} | {case.expected} | **{status}** {outcome} |")
    else:
        for case, commands, status, outcome in rows:
            print(f"[{status:4s}] {case.area} / {case.name}")
            for command in commands:
                print(textwrap.fill(command, 118, initial_indent="    $ ", subsequent_indent="        "))
            print(textwrap.fill(case.expected, 118, initial_indent="    expected: ", subsequent_indent="              "))
            print(textwrap.fill(outcome, 118, initial_indent="    outcome:  ", subsequent_indent="              "))
    failed = [case.name for case, _, status, _ in rows if status == "FAIL"]
    skipped = sum(status == "skip" for _, _, status, _ in rows)
    print(
        f"\n{len(rows) - len(failed) - skipped} ok, {len(failed)} failed, {skipped} skipped "
        f"in {time.perf_counter() - started:.0f} s" + (f": {', '.join(failed)}" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
