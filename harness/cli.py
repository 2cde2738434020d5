"""connlab's command line; the only place that maps errors to exit codes.

    connlab predict SCENARIO [--json] [--app python|rails]
    connlab run SCENARIO [--out DIR] [--json] [--app python|rails] [--backend local|docker] [--require-fit] [--web]
    connlab compose SCENARIO [--app python|rails] [-o FILE] [--postgres-port N] [--redis-port N] [--web-port N]
    connlab report RUN_DIR                    rebuild a saved run's RUN_DIR/report.html
    connlab report RUN_A RUN_B ... [-o FILE]  the runs side by side (default: ./compare.html)
    connlab demo [--app python|rails] [--out DIR] [--no-pause] [--web]
    connlab check APP_DIR [--formation web=4,worker=2] [--autoscale web=2..10] [--postgres-max-connections N]
                  [--postgres-reserved N] [--redis-maxclients N] [--env K=V] [--env-file F] [--set web.pool=N]
                  [--json] [--write-scenario FILE] [--run [--backend local|docker]] [--no-eval]
    connlab scenarios
    connlab --version

SCENARIO is a file, or the name of a shipped scenario (``connlab scenarios`` lists them).

Exit codes (``ExitCode``)::

    0    OK                  the prediction held and the scenario's expectations were met
    1    VERDICT_FAILED      the prediction did not hold, or an expectation was not met
    2    BAD_INPUT           a scenario file or a flag is wrong (one line per problem)
    3    MISSING_DEPENDENCY  Ruby, a gem or a wheel is missing (the line says what to install)
    4    STACK_FAILED        a server did not start, or died during the run
    5    LOAD_FAILED         Locust failed
    6    DOES_NOT_FIT        with --require-fit: the run held, but the configuration exhausted a server or a pool;
                             connlab check: the expected count exhausts a server somewhere in the range
    7    AT_RISK             connlab check: only the worst case (every pool full) goes over, somewhere in the range
    8    INCOMPLETE          connlab check: a figure that enters a total could not be read (the lines marked
                             "unknown" name each one and the flag that supplies it): never a "fits"
    70   CRASHED             connlab itself failed: one line, and the traceback in a file it names
    130  INTERRUPTED         Ctrl-C (143 for SIGTERM); the stack was torn down first
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import traceback
from pathlib import Path

from rich.console import Console

from harness import __version__
from harness.assets import scenario_path, shipped_scenarios
from harness.check.options import add_limit_arguments
from harness.compose import add_port_arguments, build_images, check_supported, ports_from, render, write
from harness.demo import run_demo
from harness.errors import (
    ConnlabError,
    ExitCode,
    Interrupted,
    LoadError_,
    MissingDependency,
    PlanError,
)
from harness.htmlreport import write_comparison, write_report
from harness.live import LineView, PanelView
from harness.pipeline import check_out, execute, preflight
from harness.plan import APPS, Plan, load_plan
from harness.predict import forecast
from harness.report import prediction_document, show_forecast, show_results
from harness.resources.compose_parts import COMPOSE_PARTS
from harness.resources.limits import LIMITS
from harness.signals import install as install_signals
from harness.stack.backends import BACKENDS
from harness.validate import escaped
from harness.versions import assumed

#: the database the docker backend runs (the server the ORM's pools connect to, ``LimitsKind.role``), as its
#: image names it: its version is not the local backend's
_DOCKER_DATABASE = next(COMPOSE_PARTS[name].title for name, kind in LIMITS.items() if kind.role == "database")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="connlab", description="Reproduce connection exhaustion on real stacks.")
    parser.add_argument("--version", action="version", version=f"connlab {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("scenarios", help="list the shipped scenarios")
    predict = commands.add_parser("predict", help="print the connection arithmetic, start nothing")
    predict.add_argument("scenario", help="a scenario file, or the name of a shipped scenario")
    predict.add_argument("--json", action="store_true", help="print the prediction as JSON")
    predict.add_argument("--app", choices=APPS, help="override the scenario's app")
    predict.add_argument("--backend", choices=BACKENDS, default="local",
                         help="predict for the versions this backend runs (local: Rails 6.1 / Sidekiq 6.4; "
                              "docker: Rails 7.2 / Sidekiq 7.3)")
    run_ = commands.add_parser("run", help="run the scenario on a real stack and judge the prediction")
    run_.add_argument("scenario", help="a scenario file, or the name of a shipped scenario")
    run_.add_argument("--out", type=Path, default=Path("runs"), help="where run folders go (default: runs)")
    run_.add_argument("--json", action="store_true", help="print results.json to stdout instead of tables")
    run_.add_argument("--app", choices=APPS, help="run the scenario on this app instead of its own")
    run_.add_argument("--backend", choices=BACKENDS, default="local",
                      help=f"local processes (default) or containers (docker: Rails 7.2, the twin, {_DOCKER_DATABASE})")
    run_.add_argument("--require-fit", action="store_true",
                      help="exit 6 when the configuration exhausts a server or a pool")
    run_.add_argument("--web", action="store_true",
                      help="drive the ramp by hand in Locust's web UI (127.0.0.1); the run starts when you press Start")
    compose = commands.add_parser("compose", help="write a compose file of the scenario's stack (no harness)")
    compose.add_argument("scenario", help="a scenario file, or the name of a shipped scenario")
    compose.add_argument("--app", choices=APPS, help="override the scenario's app")
    compose.add_argument("-o", "--output", type=Path, metavar="FILE", help="write the file here (default: stdout)")
    add_port_arguments(compose)
    report = commands.add_parser("report", help="rebuild a saved run's report.html, or compare runs side by side")
    report.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR",
                        help="a run folder, runs/<scenario>-<timestamp>")
    report.add_argument("-o", "--output", type=Path, metavar="FILE",
                        help="write here (default: RUN_DIR/report.html for one run, ./compare.html for several)")
    demo = commands.add_parser("demo", help="teaching mode: the classic examples in order, each a short real run")
    demo.add_argument("--app", choices=APPS, help="run the steps on this app (default: rails; python: the twin)")
    demo.add_argument("--out", type=Path, default=Path("runs"), help="where the demo's folder goes (default: runs)")
    demo.add_argument("--no-pause", action="store_true", help="do not wait for Enter between steps")
    demo.add_argument("--web", action="store_true",
                      help="each step's traffic from Locust's web UI (127.0.0.1): press Start there, set the users")
    check = commands.add_parser("check", help="read a real app's config, predict it, sweep the autoscale range")
    check.add_argument("app_dir", type=Path, metavar="APP_DIR", help="the app's folder (Procfile, config/ ...)")
    check.add_argument("--formation", metavar="TYPE=N,...", help="dynos per process type, e.g. web=4,worker=2")
    check.add_argument("--autoscale", metavar="TYPE=LOW..HIGH", help="the range one type scales over, e.g. web=2..10")
    add_limit_arguments(check)
    check.add_argument("--env", action="append", default=[], metavar="K=V", help="an environment variable (repeat)")
    check.add_argument("--env-file", action="append", default=[], type=Path, metavar="FILE")
    check.add_argument("--set", action="append", default=[], metavar="NAME=N",
                       help="override a figure: web.processes, web.threads, web.pool, sqlalchemy.pool_size ...")
    check.add_argument("--json", action="store_true", help="the answer as JSON")
    check.add_argument("--write-scenario", type=Path, metavar="FILE",
                       help="write the scenario that reproduces the plan on the sample apps")
    check.add_argument("--run", action="store_true", help="run that scenario now, at the top of the autoscale range")
    check.add_argument("--backend", choices=BACKENDS, default="local", help="for --run (default: local)")
    check.add_argument("--out", type=Path, default=Path("runs"), help="for --run: where run folders go")
    check.add_argument("--no-eval", action="store_true",
                       help="run none of the app's code (ERB, puma.rb, gunicorn.conf.py): literal values only, what "
                       "depends on code is unknown")
    return parser


def _check(args: argparse.Namespace, console: Console, err: Console) -> ExitCode:
    """The arithmetic from the app's files; with --run, the proof on a real stack (its verdict decides)."""
    from harness.check.command import check, document, show
    from harness.check.options import gather, limit_arguments
    from harness.check.scenario import write_scenario

    options = gather(args.app_dir, formation=args.formation, autoscale=args.autoscale, **limit_arguments(args),
                     env=args.env, env_files=args.env_file, sets=args.set, evaluate=not args.no_eval)
    result = check(args.app_dir, options)
    if args.json and not args.run:
        print(json.dumps(document(result), indent=2))
    else:
        show(console, result)
    status = {"exhausts": ExitCode.DOES_NOT_FIT, "at-risk": ExitCode.AT_RISK,
              "incomplete": ExitCode.INCOMPLETE}.get(result.status, ExitCode.OK)
    if args.write_scenario is None and not args.run:
        return status
    if status == ExitCode.INCOMPLETE:
        err.print(f"connlab: {args.app_dir}: no scenario written: figures above are unknown (give them with the "
                  "flags named, then --write-scenario or --run)")
        return status
    scenario = args.write_scenario or Path(tempfile.mkdtemp(prefix="connlab-check-")) / f"{args.app_dir.name}.yaml"
    try:
        write_scenario(result, scenario)
    except ValueError as exc:
        raise PlanError([f"{args.app_dir}: cannot write a scenario: {exc}"]) from None
    err.print(f"[dim]connlab: wrote {scenario}[/dim]")
    if not args.run:
        return status
    run_args = argparse.Namespace(scenario=str(scenario), app=None, backend=args.backend, out=args.out,
                                  json=args.json, require_fit=False, web=False)
    return _run(run_args, console, err)


def _report(args: argparse.Namespace) -> ExitCode:
    """One run: its report.html again; several: one page with the runs side by side."""
    if len(args.run_dirs) == 1:
        path = write_report(args.run_dirs[0], out=args.output)
    else:
        path = write_comparison(args.run_dirs, args.output or Path("compare.html"))
    print(f"report: {path}")
    return ExitCode.OK


def _compose(args: argparse.Namespace, err: Console) -> ExitCode:
    """Build the images (progress on stderr) on the engine ``connlab run --backend docker`` finds or starts
    (``compose.build_images``), then write the compose file to ``-o`` or stdout."""
    plan = _plan(args)
    check_supported(plan)

    def say(line: str) -> None:
        err.print(f"[dim]connlab: {line}[/dim]", soft_wrap=True)

    images = build_images(plan, say)
    text = render(plan, images, ports_from(args))
    if args.output is None:
        sys.stdout.write(text)
    else:
        secrets = write(text, args.output)
        say(f"wrote {args.output} and its passwords in {secrets}: docker compose --env-file {secrets} "
            f"-f {args.output} up (or docker-compose --env-file ...)")
    return ExitCode.OK


def _plan(args: argparse.Namespace) -> Plan:
    return load_plan(scenario_path(args.scenario), app=args.app)


def _run(args: argparse.Namespace, console: Console, err: Console) -> ExitCode:
    """Run the plan and judge it. ``--out`` and the plan's size are checked before anything starts; a file of the
    run that could not be written (the report, the series) is one line, and the exit is still the verdict's."""
    plan = _plan(args)
    preflight(plan, args.out)
    if not args.json:
        show_forecast(console, forecast(plan, versions=assumed(plan.app, args.backend)), plan.name)
    say = lambda line: err.print(f"[dim]connlab: {line}[/dim]")  # noqa: E731
    # a terminal gets the live panel; CI, pipes and --json plain lines (the same figures go into the files)
    view = PanelView(console, f"{plan.name} ({plan.app}, {args.backend})") if console.is_terminal and \
        not args.json else LineView(say)
    # execute begins the run (what runs that died left is swept; a reaper outlives this one) and always ends it
    outcome = execute(plan, out=args.out, backend=args.backend, say=say, view=view, web=args.web,
                      notice=lambda line: print(f"connlab: {line}", file=sys.stderr))
    verdict = outcome.verdict
    if args.json:
        print(json.dumps(outcome.document, indent=2))
    else:
        show_results(console, outcome.document, verdict)
        if outcome.results_path is not None:
            console.print(f"results: {outcome.results_path}", markup=False, highlight=False)
    if (not_written := outcome.not_written()) is not None:
        print(f"connlab: {escaped(not_written)}", file=sys.stderr)
    if not verdict.passed:
        return ExitCode.VERDICT_FAILED
    if args.require_fit and not verdict.config_fits:
        return ExitCode.DOES_NOT_FIT
    return ExitCode.OK


def _demo(args: argparse.Namespace, console: Console, err: Console) -> ExitCode:
    """Every demo step in order; pauses for Enter between them only when asked to and stdin is a terminal."""
    check_out(args.out)
    finished = run_demo(app=args.app, out=args.out, pause=not args.no_pause and sys.stdin.isatty(), console=console,
                        web=args.web, say=lambda line: err.print(f"[dim]connlab: {line}[/dim]"),
                        notice=lambda line: print(f"connlab: {line}", file=sys.stderr))
    return ExitCode.OK if finished.all_agree else ExitCode.VERDICT_FAILED


def _exit_code(exc: ConnlabError | Interrupted) -> ExitCode:
    if isinstance(exc, Interrupted):
        return ExitCode.TERMINATED if exc.signal_name == "SIGTERM" else ExitCode.INTERRUPTED
    for kind, code in ((PlanError, ExitCode.BAD_INPUT), (MissingDependency, ExitCode.MISSING_DEPENDENCY),
                       (LoadError_, ExitCode.LOAD_FAILED)):
        if isinstance(exc, kind):
            return code
    return ExitCode.STACK_FAILED  # StackError, and any other failure of a part of the run


def _save_traceback() -> Path:
    """Write the current exception's traceback to a file of its own; return its path."""
    handle, name = tempfile.mkstemp(prefix="connlab-crash-", suffix=".txt")
    with os.fdopen(handle, "w") as out:
        out.write(f"connlab {__version__} {' '.join(sys.argv)}\n")
        traceback.print_exc(file=out)
    return Path(name)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    console = Console(width=None if sys.stdout.isatty() else 120)
    err = Console(stderr=True, highlight=False, soft_wrap=True)  # one line per message, whatever the width
    install_signals()  # the first Ctrl-C or SIGTERM interrupts; a teardown always finishes (harness.signals)
    try:
        if args.command == "scenarios":
            for name in shipped_scenarios():
                print(name)
            return ExitCode.OK
        if args.command == "predict":
            plan = _plan(args)
            predicted = forecast(plan, versions=assumed(plan.app, args.backend))
            if args.json:
                print(json.dumps(prediction_document(predicted, plan.name), indent=2))
            else:
                show_forecast(console, predicted, plan.name)
            return ExitCode.OK
        if args.command == "compose":
            return _compose(args, err)
        if args.command == "check":
            return _check(args, console, err)
        if args.command == "demo":
            return _demo(args, console, err)
        if args.command == "report":
            return _report(args)
        return _run(args, console, err)
    except (ConnlabError, Interrupted) as exc:
        for line in exc.problems if isinstance(exc, PlanError) else str(exc).split("\n"):
            print(f"connlab: {escaped(line)}", file=sys.stderr)  # a scenario's text never reaches the terminal raw
        return _exit_code(exc)
    except BrokenPipeError:  # `connlab predict --json | head`: the reader left, nothing went wrong here
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return ExitCode.OK
    except Exception:  # noqa: BLE001 - a bug of connlab's own: one line and a file, never a bare traceback
        print(f"connlab: crashed ({sys.exc_info()[1]!r:.200}); the traceback is in {_save_traceback()}",
              file=sys.stderr)
        return ExitCode.CRASHED


if __name__ == "__main__":
    sys.exit(main())
