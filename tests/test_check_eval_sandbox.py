"""connlab check runs the app's ERB, puma.rb and gunicorn.conf.py as the app would: in a sandbox of its own process
group, killed whole when it ends (a child it leaves behind neither outlives check nor holds it up); as root as the
unprivileged ``connlab`` user on a copy of the app, writing nothing of root's; and ``--no-eval`` runs none of it.

The apps are written under pytest's tmp_path, a 0700 folder of root's when root, as a checkout under /root is:
the evaluation reads them only through the copy.
"""

from __future__ import annotations

import json
import os
import pwd
import random
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.check.gunicorn_config import NotLiteral, literal
from harness.check.python import read_python
from harness.check.rails import read_rails
from harness.check.sandbox import MAX_FILE_BYTES, Sandbox, copy_app
from tests.helpers_check import APPS, check, of, pools, write

ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="the evaluation runs as the connlab user only when root")
INCOMPLETE, FITS = 8, 0


def sleeps(marker: str) -> list[str]:
    """Live processes whose command line has ``marker`` (a ``sleep 60.NNN`` a test started)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            line = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(") ", 1)[-1][:1]
        except OSError:
            continue
        if marker in line and state != "Z":
            found.append(f"{entry.name}: {line.strip()}")
    return found


@pytest.fixture
def marker() -> Iterator[str]:
    """``60.<random>``: a sleep's argument no other process has; whatever is left with it is killed at the end."""
    value = f"60.{random.randrange(10**8, 10**9)}"
    yield value
    for line in sleeps(value):
        os.kill(int(line.split(":")[0]), 9)


@pytest.fixture
def root_only_dir() -> Iterator[Path]:
    """A folder only root may write in (root's, 0755), as /etc or /root are."""
    folder = Path(f"/tmp/{random.randrange(10**8, 10**9)}-rootonly")
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


# -- no orphan, no wait on one -------------------------------------------------------------------------------------

def test_a_child_the_erb_spawns_neither_holds_check_up_nor_outlives_it(tmp_path: Path, marker: str) -> None:
    app = write(tmp_path, {
        "Procfile": "web: bundle exec puma -C config/puma.rb\n",
        # one child on its own (spawn), one through a shell that returns at once (system "... &")
        "config/database.yml": f"production:\n  adapter: postgresql\n  pool: <%= spawn('sleep', '{marker}'); "
                               f"system('sleep {marker} &'); 4 %>\n",
        "config/puma.rb": "threads 4, 4\n",
    })
    done, seconds = check(str(app), "--formation", "web=1", "--json")
    # before: the children kept Ruby's stdout pipe open and check waited its whole 30 s for it
    assert seconds < 15, done.stderr
    assert sleeps(marker) == []
    web = next(p for p in json.loads(done.stdout)["process_types"] if p["name"] == "web")
    assert (web["pools"][0]["size"], web["pools"][0]["source"]) == (4, "config/database.yml:3")


def test_a_child_gunicorn_conf_py_starts_neither_holds_check_up_nor_outlives_it(tmp_path: Path, marker: str) -> None:
    app = write(tmp_path, {
        "Procfile": "web: gunicorn app:app\n",
        "requirements.txt": "flask\nsqlalchemy\n",
        "gunicorn.conf.py": f"import subprocess\nsubprocess.Popen(['sleep', '{marker}'])\nworkers = 3\n",
    })
    done, seconds = check(str(app), "--formation", "web=1", "--set", "sqlalchemy.pool_size=1", "--set",
                          "sqlalchemy.max_overflow=0", "--json")
    assert seconds < 15, done.stderr
    assert sleeps(marker) == []
    # before: communicate() waited on the sleep's pipe until the 5 s limit, and the settings were lost
    web = next(p for p in json.loads(done.stdout)["process_types"] if p["name"] == "web")
    assert web["processes"] == {"value": 3, "source": "gunicorn.conf.py:3"}


def test_the_sandbox_kills_the_whole_group_at_its_timeout(tmp_path: Path, marker: str) -> None:
    with Sandbox(tmp_path) as box:
        began = time.monotonic()
        done = box.run(["/bin/sh", "-c", f"sleep {marker} & sleep {marker}"], env={}, timeout=0.5)
        folder = box.root
    assert time.monotonic() - began < 5
    assert (done.timed_out, done.returncode) == (True, None)
    assert sleeps(marker) == []
    assert folder == tmp_path.resolve() or not folder.exists()  # the copy (as root) is gone with the sandbox


# -- as root: the connlab user, on a copy --------------------------------------------------------------------------

@ROOT_ONLY
def test_as_root_the_erb_and_puma_rb_run_as_connlab_and_write_nothing_of_roots(tmp_path: Path,
                                                                               root_only_dir: Path) -> None:
    evil = root_only_dir / "evil-erb"
    app = write(tmp_path, {
        "Procfile": "web: bundle exec puma -C config/puma.rb\nworker: bundle exec sidekiq\n",
        # pool 2: writing in root's folder failed; concurrency 7: the app's (copied) folder is not writable either
        "config/database.yml": f"production:\n  adapter: postgresql\n  pool: <%= begin; File.write('{evil}', 'x'); "
                               "1; rescue SystemCallError; 2; end %>\n",
        "config/sidekiq.yml": "concurrency: <%= begin; File.write('written-by-erb', 'x'); 1; "
                              "rescue SystemCallError; 7; end %>\n",
        # threads: the uid; workers 3 when no gid of the process is root's
        "config/puma.rb": "threads Process.uid, Process.uid\n"
                          "workers (Process.groups + [Process.gid, Process.egid]).include?(0) ? 1 : 3\n",
    })
    os.chmod(tmp_path, 0o700)
    config = read_rails(app, env={}, flags={})
    connlab = pwd.getpwnam("connlab")
    web, worker = of(config, "web"), of(config, "worker")
    assert (web.threads.value, web.processes.value) == (connlab.pw_uid, 3)
    assert pools(web)[0][:2] == ("primary", 2)
    assert worker.threads.value == 7
    assert not evil.exists() and not (app / "written-by-erb").exists()
    # the copy's paths never show: sources name the app's own files and lines
    assert web.threads.source == "config/puma.rb:1" and pools(web)[0][2] == "config/database.yml:3"


@ROOT_ONLY
def test_as_root_gunicorn_conf_py_runs_as_connlab_and_writes_nothing_of_roots(tmp_path: Path,
                                                                              root_only_dir: Path) -> None:
    evil = root_only_dir / "evil-py"
    write(tmp_path, {
        "Procfile": "web: gunicorn app:app\n",
        "gunicorn.conf.py": (
            "import os\n"
            "try:\n"
            f"    open({str(evil)!r}, 'w').write('x')\n"
            "    wrote = True\n"
            "except OSError:\n"
            "    wrote = False\n"
            "home = os.environ['HOME']\n"
            "workers = os.getuid()\n"
            # 1 + 1 (no root group) + 2 (root's folder not written) + 4 (HOME its own, writable) = 8
            "threads = 1 + (0 not in os.getgroups() and os.getgid() != 0) + 2 * (not wrote) + "
            "4 * (os.stat(home).st_uid == os.getuid() and os.access(home, os.W_OK))\n"
        ),
    })
    os.chmod(tmp_path, 0o700)
    app = read_python(tmp_path, env={}, flags={"sqlalchemy.pool_size": 1})
    web = next(p for p in app.process_types if p.name == "web")
    assert (web.processes.value, web.processes.source) == (pwd.getpwnam("connlab").pw_uid, "gunicorn.conf.py:8")
    assert (web.threads.value, web.threads.source) == (8, "gunicorn.conf.py:9")
    assert not evil.exists()


@ROOT_ONLY
def test_as_root_an_error_names_the_apps_own_path_never_the_copy(tmp_path: Path) -> None:
    write(tmp_path, {"Procfile": "web: gunicorn app:app\n",
                     "gunicorn.conf.py": "import os\nopen(os.path.join(os.path.dirname(__file__), 'gone.txt'))\n"})
    app = read_python(tmp_path, env={}, flags={"sqlalchemy.pool_size": 1})
    source = next(p for p in app.process_types if p.name == "web").processes.source
    assert f"'{tmp_path.resolve()}/gone.txt'" in source and "connlab-eval-" not in source, source


def test_the_copy_is_bounded_and_follows_nothing_out_of_the_app(tmp_path: Path) -> None:
    app, outside, copy = tmp_path / "app", tmp_path / "outside", tmp_path / "copy"
    write(app, {"config/database.yml": "x\n", "lib/deep/a/b/c.rb": "y\n", ".git/HEAD": "z\n",
                "node_modules/left-pad/index.js": "1\n", "vendor/bundle/gems/x.rb": "2\n", "tmp/cache/x": "3\n"})
    write(outside, {"secret": "root's\n"})
    (app / "big.bin").write_bytes(b"0" * (MAX_FILE_BYTES + 1))
    (app / "config/secret").symlink_to(outside / "secret")
    (app / "config/db.yml").symlink_to("database.yml")
    os.mkfifo(app / "config/fifo")  # read would block: never copied
    copied = copy_app(app, copy)
    found = sorted(str(p.relative_to(copy)) for p in copy.rglob("*") if not p.is_dir())
    assert found == ["config/database.yml", "config/db.yml", "lib/deep/a/b/c.rb"]
    assert (copy / "config/db.yml").read_text() == "x\n" and os.readlink(copy / "config/db.yml") == "database.yml"
    assert copied.skipped == (f"big.bin ({MAX_FILE_BYTES + 1} bytes)",)
    # only the folders asked for, and below the top only the suffixes asked for
    only = copy_app(app, tmp_path / "only", dirs=["config"], suffixes=(".yml",))
    assert sorted(str(p.relative_to(tmp_path / "only")) for p in (tmp_path / "only").rglob("*")
                  if not p.is_dir()) == ["config/database.yml", "config/db.yml"]
    assert only.files == 1


# -- --no-eval ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("app", "args"), [
    ("rails-delayed-job", ["--formation", "web=2,jobs=1,batch=1", "--postgres-max-connections", "100",
                           "--redis-maxclients", "20"]),
    ("python-systemd", ["--formation", "inventory=1,inventory-worker=1", "--postgres-max-connections", "100"]),
])
def test_no_eval_on_literal_files_gives_the_same_answer(app: str, args: list[str]) -> None:
    # rails-delayed-job: database.yml without ERB, unicorn.rb's `worker_processes 4` / `preload_app true` at the
    # top with literal arguments; python-systemd: gunicorn.py's `threads = 4`
    evaluated, _ = check(str(APPS / app), *args, "--json")
    literal_only, _ = check(str(APPS / app), *args, "--json", "--no-eval")
    assert (evaluated.returncode, literal_only.returncode) == (FITS, FITS), literal_only.stdout[-600:]
    assert json.loads(literal_only.stdout) == json.loads(evaluated.stdout)


def test_no_eval_on_erb_and_ruby_is_incomplete_naming_each_line() -> None:
    done, _ = check(str(APPS / "rails72-sidekiq"), "--formation", "web=1,worker=1", "--postgres-max-connections",
                    "100", "--json", "--no-eval")
    assert done.returncode == INCOMPLETE, done.stdout[-600:]
    answer = json.loads(done.stdout)
    web = next(p for p in answer["process_types"] if p["name"] == "web")
    worker = next(p for p in answer["process_types"] if p["name"] == "worker")
    not_run = "not evaluated (--no-eval)"
    assert web["processes"]["source"] == f"unknown: config/puma.rb:18: `workers ENV.fetch(\"WEB_CONCURRENCY\", 2)` " \
        f"{not_run}"
    assert web["threads"]["source"] == f"unknown: config/puma.rb:15: `threads threads_count, threads_count` {not_run}"
    pool = "unknown: config/database.yml:7: `<%= ENV.fetch(\"RAILS_MAX_THREADS\") { 5 } %>` " + not_run
    assert [p["source"] for p in web["pools"]] == [pool] and [p["source"] for p in worker["pools"]] == [pool]
    assert (worker["threads"]["value"], worker["threads"]["source"]) == (10, "config/sidekiq.yml:2")  # literal
    trust = "run without --no-eval on code you trust, or --set"
    assert answer["missing"] == [f"web.processes ({trust} web.processes=N)", f"web.threads ({trust} web.threads=N)",
                                 f"web.pool ({trust} web.pool=N)", f"worker.pool ({trust} worker.pool=N)"]
    assert answer["problems"] == [
        "config/database.yml, config/puma.rb: code not evaluated (--no-eval): what it gives is unknown; run without "
        "--no-eval on code you trust, or give the figures with --set TYPE.field=N"]
    # the flags named supply them: no longer incomplete (web 1 x 2 x min(3, 3) + worker 1 x min(10, 10) = 16 of 97)
    done, _ = check(str(APPS / "rails72-sidekiq"), "--formation", "web=1,worker=1", "--postgres-max-connections",
                    "100", "--json", "--no-eval", "--set", "web.processes=2,web.threads=3,web.pool=3,worker.pool=10")
    assert done.returncode == FITS and json.loads(done.stdout)["resources"][0]["expected"] == 16


def test_no_eval_on_gunicorn_conf_py_reads_its_literals_only() -> None:
    done, _ = check(str(APPS / "django-celery"), "--formation", "web=1,worker=1", "--json", "--no-eval")
    assert done.returncode == INCOMPLETE
    answer = json.loads(done.stdout)
    web = next(p for p in answer["process_types"] if p["name"] == "web")
    assert web["processes"]["source"] == "unknown: gunicorn.conf.py:4: `workers = int(os.environ.get(" \
        "\"WEB_CONCURRENCY\", 3))` not evaluated (--no-eval)"
    assert web["threads"] == {"value": 4, "source": "gunicorn.conf.py:5"}
    assert answer["missing"] == ["web.processes (run without --no-eval on code you trust, or --set web.processes=N)"]


def test_no_eval_runs_nothing_of_the_apps(tmp_path: Path, marker: str) -> None:
    evil = tmp_path / "ran"
    write(tmp_path, {
        "Procfile": "web: bundle exec puma -C config/puma.rb\nworker: bundle exec sidekiq\n",
        "config/database.yml": f"production:\n  adapter: postgresql\n  host: <%= File.write('{evil}', 'x') %>\n"
                               "  pool: 6\n",
        # a statement tag shapes the file: none of it is read
        "config/sidekiq.yml": "<% if ENV['BIG'] %>\nconcurrency: 20\n<% else %>\nconcurrency: 5\n<% end %>\n",
        "config/puma.rb": f"system('sleep {marker} &')\nworkers 2\nthreads 1, 3\nthreads 2, 2 if ENV['X']\n",
    })
    config = read_rails(tmp_path, env={}, flags={}, evaluate=False)
    assert not evil.exists() and sleeps(marker) == []
    web, worker = of(config, "web"), of(config, "worker")
    # a host from ERB: the primary's; the literal pool and workers are read
    assert pools(web) == [("primary", 6, "config/database.yml:4", "")]
    assert (web.processes.value, web.processes.source) == (2, "config/puma.rb:2")
    # threads set twice, once under a condition: not known
    assert web.threads.source == "unknown: config/puma.rb:4: `threads 2, 2 if ENV['X']` not evaluated (--no-eval)"
    assert worker.threads.source == "unknown: config/sidekiq.yml:1: `<% if ENV['BIG'] %>` not evaluated (--no-eval)"
    assert worker.threads.missing == "run without --no-eval on code you trust, or --set worker.threads=N"


@pytest.mark.parametrize(("text", "expected"), [
    ("workers = 4\nthreads = 2\nworker_class = 'gthread'\n", {"workers": 4, "threads": 2, "worker_class": "gthread"}),
    ("workers = 4\nworkers = 6\n", {"workers": 6}),
    ("import os\nif os.environ.get('X'):\n    workers = 8\nworkers = 2\n",
     {"workers": NotLiteral(line=3, code="workers = 8")}),
    ("workers = 2\nworkers += 1\n", {"workers": NotLiteral(line=2, code="workers += 1")}),
    ("from settings import workers\n", {"workers": NotLiteral(line=1, code="from settings import workers")}),
    ("threads = 2\nfrom defaults import *\n", {name: NotLiteral(line=2, code="from defaults import *") for name in
                                                ("workers", "threads", "worker_class", "worker_connections")}),
    ("workers = True\n", {"workers": "True"}),
    ("bind = '0.0.0.0:' + PORT\n", {}),
])
def test_gunicorn_literal_assignments(tmp_path: Path, text: str, expected: dict[str, object]) -> None:
    (tmp_path / "gunicorn.conf.py").write_text(text)
    assert literal(tmp_path / "gunicorn.conf.py") == (expected, None)
