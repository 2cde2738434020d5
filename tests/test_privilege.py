"""harness.privilege.reachable: the copy of a binary the service account cannot reach, made while other threads
start processes (as Stack.up starts the servers), runs at once, with no ETXTBSY ("Text file busy")."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import uuid
from pathlib import Path

import pytest

from harness.privilege import drop_to, reachable, service_account

# With the copy made in this process, 4, 6 and 4 of 300 rounds were busy (ETXTBSY) in three runs, so the chance
# that 300 rounds all pass by luck is about 1%.
ROUNDS = 300
SPAWNERS = 4


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: only root drops to the service account")
def test_a_copy_made_while_other_threads_spawn_runs_at_once() -> None:
    account = service_account()
    assert account is not None
    private = Path(tempfile.mkdtemp(prefix="connlab-reach-"))  # 0700: the account cannot run what is inside
    (private / "bin").mkdir()
    program = private / "bin" / "echo"
    shutil.copy2("/bin/echo", program)
    stop = threading.Event()

    def spawn() -> None:
        while not stop.is_set():
            subprocess.run(["/bin/true"], check=False)

    spawners = [threading.Thread(target=spawn) for _ in range(SPAWNERS)]
    copies: list[Path] = []
    busy = 0
    try:
        for thread in spawners:
            thread.start()
        for _ in range(ROUNDS):
            copy = reachable(program, account, root=private, parts=[Path("bin")],
                             name=f"test-reach-{uuid.uuid4().hex[:8]}")
            copies.append(copy.parent.parent)
            assert copy != program and copy.name == "echo" and copy.parent.name == "bin"
            try:
                ran = subprocess.run([str(copy), "ok"], capture_output=True, text=True, check=False,
                                     **drop_to(account))
            except OSError as error:
                if error.errno != 26:
                    raise
                busy += 1
                continue
            assert ran.returncode == 0 and ran.stdout == "ok\n", ran
    finally:
        stop.set()
        for thread in spawners:
            thread.join()
        shutil.rmtree(private, ignore_errors=True)
        for copy_root in copies:
            shutil.rmtree(copy_root, ignore_errors=True)
    assert busy == 0, f"{busy} of {ROUNDS} copies were busy (ETXTBSY) when run"


def test_no_account_means_the_program_itself() -> None:
    program = Path("/bin/echo")
    assert reachable(program, None, root=program.parent, parts=[Path("echo")], name="unused") == program
