"""Add up the JUnit reports of the parts of `make test` into one closing line.

`make test` runs pytest twice (parallel, then browser and worker tests on their own);
this prints "total: N passed, N failed, N skipped" over both, and fails when no test
ran at all.
"""

import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def main(paths: list[str]) -> int:
    tests = failed = skipped = 0
    for path in paths:
        if not Path(path).exists():
            continue
        root = ET.parse(path).getroot()
        suites = [root] if root.tag == "testsuite" else root.iter("testsuite")
        for suite in suites:
            tests += int(suite.get("tests", 0))
            failed += int(suite.get("failures", 0)) + int(suite.get("errors", 0))
            skipped += int(suite.get("skipped", 0))
    passed = tests - failed - skipped
    sys.stdout.write(f"\ntotal: {passed} passed, {failed} failed, {skipped} skipped\n")
    if tests == 0:
        sys.stderr.write("No test ran.\n")
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
