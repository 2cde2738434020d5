"""--web: Locust's own web UI drives the ramp; the collectors, the verdict and the files work as always."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

from tests.helpers import env_with_marker, processes_under
from tests.test_e2e_python import ROOT, only_results, resource, validate


def test_a_person_starts_the_test_in_locusts_web_ui(tmp_path: Path) -> None:
    marker = uuid.uuid4().hex
    log = tmp_path / "run.log"
    with log.open("w") as out:
        harness = subprocess.Popen([sys.executable, "-m", "harness", "run", "over-limit", "--web", "--out",
                                    str(tmp_path / "runs")], stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                                   env=env_with_marker(marker))
    try:
        deadline = time.monotonic() + 60
        found = None
        while found is None:
            assert harness.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
            found = re.search(r"http://127\.0\.0\.1:\d+/", log.read_text())
            time.sleep(0.1)
        ui = found.group(0)
        while True:  # the UI answers once Locust is up; nothing runs until Start is pressed
            try:
                with urllib.request.urlopen(ui, timeout=5) as page:
                    assert page.status == 200
                break
            except OSError:
                assert time.monotonic() < deadline, log.read_text()[-2000:]
                time.sleep(0.2)
        form = urllib.parse.urlencode({"user_count": 24, "spawn_rate": 100}).encode()
        with urllib.request.urlopen(ui + "swarm", data=form, timeout=5) as started:
            assert b'"success": true' in started.read()
        assert harness.wait(timeout=90) == 0, log.read_text()[-3000:]
    finally:
        if harness.poll() is None:
            harness.kill()
    document = only_results(tmp_path / "runs")
    validate(document)
    pg = resource(document, "postgres")
    assert pg["observed"]["peak"] == pg["capacity"] == 10  # type: ignore[index]
    assert pg["observed"]["rejected"] >= 1  # type: ignore[index]
    assert processes_under(marker) == []
