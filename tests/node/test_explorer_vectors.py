"""The explorer's in-browser verifier (node/explorer/web/src/verify/) holds to the Python rules:
tests/vectors/explorer.json is what they make now (tests/vectors/explorer.py), and the
JavaScript tests check every vector of it, positive and negative, against the JavaScript.

Neither is skipped: without node or the explorer's npm packages the second fails, saying to run
`make install`, which installs both."""

import json
import re
import shutil
import subprocess
from pathlib import Path

from tests.vectors.explorer import FILE, compute
from tests.vectors.test_golden_vectors import differences

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "node" / "explorer" / "web"
PACKAGES = ("cborg", "@noble/curves", "@noble/hashes")


def test_the_committed_vectors_are_what_the_python_rules_make_now() -> None:
    changed = differences(json.loads(FILE.read_text()), compute())
    assert not changed, (
        f"explorer vectors changed at {changed[:20]}: a rule the browser repeats changed; "
        "regenerate with `python -m tests.vectors.explorer --write` and update the verifier"
    )


def test_the_javascript_verifier_meets_every_vector() -> None:
    node = shutil.which("node")
    assert node is not None, "node is not installed: `make install` installs it (nodejs)"
    missing = [p for p in PACKAGES if not (WEB / "node_modules" / p / "package.json").is_file()]
    assert not missing, f"the explorer's npm packages {missing} are missing: run `make install`"
    result = subprocess.run(
        [node, "--test", "node/explorer/web/test/"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    report = result.stdout[-6000:] + result.stderr[-3000:]
    assert result.returncode == 0, report
    passed = re.search(r"^# pass (\d+)$", result.stdout, re.MULTILINE)
    assert passed is not None and int(passed.group(1)) >= 40, report
    assert re.search(r"^# fail 0$", result.stdout, re.MULTILINE), report
