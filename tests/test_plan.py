"""Scenario validation: every problem at once, one clear line each, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.errors import PlanError
from harness.plan import load_plan
from tests.helpers import SMALL_SCENARIO

ROOT = Path(__file__).resolve().parents[1]
GOOD = "\n" + SMALL_SCENARIO


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return path


def test_every_shipped_scenario_is_valid() -> None:
    for path in sorted((ROOT / "scenarios").glob("*.yaml")):
        assert load_plan(path).name == path.stem


def test_a_good_file_parses(tmp_path: Path) -> None:
    plan = load_plan(write(tmp_path, GOOD))
    assert plan.web.threads == 2 and plan.web.checkout_timeout_s == 5.0 and plan.worker is None


def test_all_problems_reported_at_once(tmp_path: Path) -> None:
    bad = GOOD.replace("threads: 2", "threads: 0").replace("pool: 2", "pool: -1").replace(
        "app: python", "app: django\ncolour: blue")
    with pytest.raises(PlanError) as caught:
        load_plan(write(tmp_path, bad))
    problems = caught.value.problems
    assert len(problems) == 4, problems
    text = "\n".join(problems)
    assert "tiers.web.threads: must be >= 1, got 0" in text
    assert "tiers.web.pool: must be >= 1, got -1" in text
    assert "app: must be one of python, rails, got 'django'" in text
    assert "colour: unknown key; allowed here:" in text
    assert all(p.startswith(str(tmp_path / "s.yaml")) for p in problems)


def test_wrong_types_are_named(tmp_path: Path) -> None:
    with pytest.raises(PlanError) as caught:
        load_plan(write(tmp_path, GOOD.replace("query_ms: 100", "query_ms: fast")))
    assert caught.value.problems == [f"{tmp_path / 's.yaml'}: traffic.query_ms: must be an integer >= 0, "
                                     "got 'fast'"]


def test_event_outside_the_traffic_is_refused(tmp_path: Path) -> None:
    text = GOOD + "events: [{at_s: 9, action: scale, dynos: 2}]\n"
    with pytest.raises(PlanError, match=r"events\[0\]\.at_s: must fall within the traffic"):
        load_plan(write(tmp_path, text))


def test_cli_prints_one_line_per_problem_and_exits_2(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("threads: 2", "threads: 0").replace("maxclients: 20", "maxclients: x"))
    result = subprocess.run([sys.executable, "-m", "harness", "run", str(path)], capture_output=True,
                            text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith("connlab: ") for line in lines), result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("text", ["{{{", "- just\n- a list\n"])
def test_unreadable_yaml_is_one_line(tmp_path: Path, text: str) -> None:
    result = subprocess.run([sys.executable, "-m", "harness", "predict", str(write(tmp_path, text))],
                            capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_missing_file_is_one_line() -> None:
    result = subprocess.run([sys.executable, "-m", "harness", "predict", "scenarios/nope.yaml"],
                            capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip() == "connlab: scenarios/nope.yaml: no such scenario file or shipped scenario; " \
                                    "`connlab scenarios` lists the shipped ones"


def test_predict_json_needs_no_server() -> None:
    result = subprocess.run([sys.executable, "-m", "harness", "predict", "--json", "dynos-2x2x2"],
                            capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr
    assert '"expected": 8' in result.stdout and '"worst_case": 20' in result.stdout


def test_app_override_changes_the_redis_rule() -> None:
    result = subprocess.run([sys.executable, "-m", "harness", "predict", "--json", "--app", "rails",
                             "baseline"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr
    import json

    redis = next(r for r in json.loads(result.stdout)["initial"]["resources"] if r["name"] == "redis")
    worker = next(g for g in redis["groups"] if g["group"] == "worker.1")
    assert (worker["expected"], worker["worst_case"]) == (3, 7)  # Sidekiq at concurrency 2: C + 1, C + 5


def test_each_mistake_is_reported_once_in_the_users_words(tmp_path: Path) -> None:
    bad = GOOD.replace("app: python\n", "").replace("max_connections: 20", "max_connections: many") + \
        "events: [{at_s: 1, action: explode, dynos: 3}]\n"
    with pytest.raises(PlanError) as caught:
        load_plan(write(tmp_path, bad))
    where = tmp_path / "s.yaml"
    assert caught.value.problems == [
        f"{where}: postgres.max_connections: must be an integer >= 2, got 'many'",
        f"{where}: app: is required: one of python, rails",
        f"{where}: events[0].action: must be one of scale, deploy, kill_backends, restart_postgres, "
        "kill_redis_clients, got 'explode'",
    ]


# -- hostile plans (issue 16): names, numbers, --out, the size guard, files not written ---------------------------

def run_main(argv: list[str]) -> tuple[int, str, str]:
    """``connlab ARGV`` in this process (``harness.cli.main``): (exit code, stdout, stderr). The signal handlers
    main installs are put back after it."""
    import contextlib
    import io
    import signal

    from harness.cli import main

    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    return code, out.getvalue(), err.getvalue()


def problems_of(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(PlanError) as caught:
        load_plan(write(tmp_path, text))
    return caught.value.problems


NAME_RULE = "must be a name of 1-63 of a-z 0-9 _ . - starting with a letter or digit, no '..'"


@pytest.mark.parametrize(("extra", "line"), [
    ("name: ../../x\n", f"name: {NAME_RULE}, got '../../x'"),
    ('name: "\\e[31mred"\n', f"name: {NAME_RULE}, got '\\x1b[31mred'"),
    ("name: a/b\n", f"name: {NAME_RULE}, got 'a/b'"),
    ("name: a..b\n", f"name: {NAME_RULE}, got 'a..b'"),
    ("name: 7\n", f"name: {NAME_RULE}, got 7"),
    ("extras: [{group: ../../x, hold_s: 1}]\n", f"extras[0].group: {NAME_RULE}, got '../../x'"),
    ('extras: [{group: "rake\\nx", hold_s: 1}]\n', f"extras[0].group: {NAME_RULE}, got 'rake\\nx'"),
    ("events: [{at_s: 1, action: kill_backends, group: ../web}]\n", f"events[0].group: {NAME_RULE}, got '../web'"),
    ("expect: {postgres: {groups: {../x: 1}}}\n",
     "expect.postgres.groups: a group is a name of 1-63 of a-z 0-9 _ . - starting with a letter or digit, no '..', "
     "got '../x'"),
    ('"\\e]0;title\\a": 1\n', "\\x1b]0;title\\x07: unknown key; allowed here: name, description, app, postgres, "
                               "redis, tiers, extras, traffic, events, expect, orm, django"),
    ('description: "\\e[2J"\n', "description: holds a control character ('\\x1b'); only text, tabs and line breaks"),
])
def test_names_that_become_paths_are_identifiers_and_quoted_escaped(tmp_path: Path, extra: str, line: str) -> None:
    problems = problems_of(tmp_path, GOOD + extra)
    assert problems == [f"{tmp_path / 's.yaml'}: {line}"]
    assert all(ch.isprintable() for ch in problems[0])


def test_without_a_name_the_file_name_is_made_one(tmp_path: Path) -> None:
    path = tmp_path / "My Plan (v2).yaml"
    path.write_text(GOOD)
    assert load_plan(path).name == "my-plan-v2"
    assert load_plan(write(tmp_path, GOOD + "name: rails-fork-unsafe.v2\n")).name == "rails-fork-unsafe.v2"


@pytest.mark.parametrize(("old", "new", "line"), [
    ("dynos: 1,", "dynos: 1000000000000,", "tiers.web.dynos: must be <= 100, got 1000000000000"),
    ("threads: 2,", "threads: 100000,", "tiers.web.threads: must be <= 1024, got 100000"),
    ("max_connections: 20", "max_connections: 1000000", "postgres.max_connections: must be <= 262143, got 1000000"),
    ("query_ms: 100", "query_ms: 100\n  cache_share: 1.5",
     "traffic.cache_share: must be >= 0 and <= 1, got 1.5"),
    ("users: 2", "users: 2, spawn_rate: 1e999", "traffic.stages[0].spawn_rate: must be a number > 0 and <= 10000, "
                                                "got '1e999'"),
    ("users: 2", "users: 2, spawn_rate: 1.0e+999",
     "traffic.stages[0].spawn_rate: must be a finite number > 0 and <= 10000, got inf"),
    ("duration_s: 2", "duration_s: 86400, users: 1}, {duration_s: 1",
     "traffic.stages: last 86401 s in all; at most 86400 s"),
])
def test_every_number_is_bounded_by_what_it_can_mean(tmp_path: Path, old: str, new: str, line: str) -> None:
    assert problems_of(tmp_path, GOOD.replace(old, new)) == [f"{tmp_path / 's.yaml'}: {line}"]


def test_a_trillion_dynos_is_one_line_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("dynos: 1,", "dynos: 1000000000000,"))
    code, out, err = run_main(["predict", str(path)])
    assert (code, out) == (2, "")
    assert err == f"connlab: {path}: tiers.web.dynos: must be <= 100, got 1000000000000\n"


def test_repeated_bursts_are_bounded(tmp_path: Path) -> None:
    text = GOOD.replace("duration_s: 2", "duration_s: 1000") + \
        "extras: [{group: cron, hold_s: 1, every_s: 0.5}]\n"
    assert problems_of(tmp_path, text) == [f"{tmp_path / 's.yaml'}: extras[0].every_s: repeats 2,000 times within "
                                           "the traffic (1000 s); at most 100: make every_s at least 10"]


def test_expect_of_the_wrong_type_is_exit_2_not_a_crash(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + "expect: {postgres: {groups: 5}, errors: {server_full: [1]}}\n")
    code, _, err = run_main(["predict", str(path)])
    assert code == 2
    assert err.splitlines() == [
        f"connlab: {path}: expect.errors.server_full: must be a mapping with keys min, max",
        f"connlab: {path}: expect.postgres.groups: must be a mapping of group names (web.1, worker.1, rake ...) to "
        "figures, got 5",
    ]


@pytest.fixture
def nothing_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if the run gets as far as its reaper, its stack or the demo's steps."""
    def started(*_: object, **__: object) -> None:
        raise AssertionError("something started")

    monkeypatch.setattr("harness.ground.registry.begin_run", started)
    for name in ("execute", "run_demo"):
        monkeypatch.setattr(f"harness.cli.{name}", started)


@pytest.mark.usefixtures("nothing_starts")
def test_an_unwritable_out_is_exit_2_before_anything_starts(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    out = blocker / "runs"
    line = f"connlab: --out {out}: cannot write run folders there (Not a directory); give a folder you can write " \
           "with --out DIR\n"
    assert run_main(["run", "baseline", "--out", str(out)]) == (2, "", line)
    assert run_main(["demo", "--out", str(out), "--no-pause"]) == (2, "", line)
    code, _, err = run_main(["check", str(ROOT / "tests" / "fixtures" / "apps" / "flask-sqlalchemy"), "--formation",
                             "worker=0", "--postgres-max-connections", "19", "--set",
                             "sqlalchemy.pool_size=2,sqlalchemy.max_overflow=0", "--run", "--out", str(out)])
    assert code == 2 and err.endswith(line), err


@pytest.mark.usefixtures("nothing_starts")
def test_a_plan_over_the_process_guard_is_refused_before_anything_starts(tmp_path: Path) -> None:
    # 30 dynos x 4 processes = 120, scaled to 60 dynos: 240, + 1 worker: 241 of 200
    path = write(tmp_path, GOOD.replace("dynos: 1, processes: 1", "dynos: 30, processes: 4").replace(
        "tiers:\n", "tiers:\n  worker: {processes: 1, concurrency: 2, pool: 2}\n").replace(
        "duration_s: 2", "duration_s: 4") + "events: [{at_s: 1, action: scale, dynos: 60}]\n")
    assert run_main(["predict", str(path)])[0] == 0  # the arithmetic at any size
    assert run_main(["run", str(path), "--out", str(tmp_path / "runs")]) == (2, "", (
        f"connlab: {path}: the plan runs 241 app processes at its largest; a run starts at most 200 on this machine: "
        "fewer dynos, processes or one-offs (connlab predict gives the arithmetic at any size)\n"))
    assert not (tmp_path / "runs").exists()


def test_run_folders_stay_inside_out(tmp_path: Path) -> None:
    from dataclasses import replace

    from harness.pipeline import run_folder
    from harness.validate import inside

    plan = load_plan(write(tmp_path, GOOD))
    assert run_folder(tmp_path, plan).parent == tmp_path.resolve()
    with pytest.raises(PlanError, match=r"outside"):
        run_folder(tmp_path, replace(plan, name="../../x"))
    (tmp_path / "link").symlink_to("/etc")
    with pytest.raises(PlanError) as caught:
        inside(tmp_path, "link", "x")
    assert caught.value.problems == [f"{tmp_path.resolve() / 'link' / 'x'}: outside {tmp_path.resolve()}; names in a "
                                     "scenario are 1-63 of a-z 0-9 _ . - starting with a letter or digit, no '..'"]
    assert inside(tmp_path, "web.1.log") == tmp_path.resolve() / "web.1.log"


def test_files_not_written_are_one_line_and_the_verdict_stays(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    from harness import pipeline

    def full(*_: object, **__: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pipeline, "write_series", full)
    monkeypatch.setattr(pipeline, "write_report", full)
    document: dict[str, object] = {"verdict": {"prediction_held": True}}
    path, problems = pipeline._write_files(object(), document, tmp_path)  # type: ignore[arg-type]
    assert path == tmp_path / "results.json" and "series" not in document
    assert problems == ["the time series (No space left on device)", "report.html (No space left on device)"]
    import json

    assert json.loads(path.read_text())["not_written"] == ["the time series (No space left on device)"]
    monkeypatch.setattr(pipeline, "write_results", full)
    path, problems = pipeline._write_files(object(), {}, tmp_path / "gone")  # type: ignore[arg-type]
    assert path is None and problems == ["the time series (No space left on device)",
                                         "results.json (No space left on device)",
                                         "report.html (no results.json to build it from)"]


REPORT_FAILS = """
import errno, sys
from harness import pipeline

def full(*_, **__):
    raise OSError(errno.ENOSPC, "No space left on device")

pipeline.write_series = pipeline.write_report = full  # the disk fills after the traffic, before the files
from harness.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.e2e
def test_a_full_disk_after_the_traffic_keeps_the_verdict_and_its_exit_code(tmp_path: Path) -> None:
    """The one real run here: the series and report.html fail to write; the verdict is printed, results.json is
    written, the exit is the verdict's own (0) and one line says what was not written."""
    import json
    import uuid

    from tests.helpers import env_with_marker, processes_under

    marker = uuid.uuid4().hex
    done = subprocess.run([sys.executable, "-c", REPORT_FAILS, "run", "baseline", "--out", str(tmp_path)],
                          capture_output=True, text=True, cwd=ROOT, env=env_with_marker(marker), timeout=180)
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-3000:]
    [run_dir] = [p for p in tmp_path.iterdir() if p.is_dir()]
    document = json.loads((run_dir / "results.json").read_text())
    assert document["verdict"]["prediction_held"] and "series" not in document
    assert not (run_dir / "report.html").exists()
    assert "predicted vs observed" in done.stdout and f"results: {run_dir / 'results.json'}" in done.stdout
    lines = [line for line in done.stderr.splitlines() if "not written" in line]
    assert lines == [f"connlab: {run_dir}: not written: the time series (No space left on device); report.html "
                     "(No space left on device); the verdict above is the run's"], done.stderr
    assert "Traceback" not in done.stderr
    assert processes_under(marker) == []


def test_app_from_the_command_line_is_validated_with_the_plan(capsys: pytest.CaptureFixture[str]) -> None:
    """``--app`` replaces the file's app before validation: a Django plan cannot become a Rails one unnoticed."""
    from harness.cli import main

    assert main(["predict", "django-pool", "--app", "rails"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "orm" in err[0] and "django-pool.yaml" in err[0], err
    assert main(["predict", "baseline", "--app", "rails"]) == 0  # a plan both apps run
