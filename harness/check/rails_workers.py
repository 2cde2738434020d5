"""Rails job workers that are one thread per process: Resque (``rake resque:work``, ``COUNT=N rake resque:workers``),
resque-pool (config/resque-pool.yml) and delayed_job (``rails jobs:work``, ``bin/delayed_job -n N start``).

Each gives (processes per dyno, threads per process = 1). Sources:

- Resque 2.x (lib/resque/tasks.rb): ``resque:work`` runs one worker in the rake process; ``resque:workers`` forks
  ``COUNT`` (default 1) ``resque:work`` processes. Each worker forks a child per job (``FORK_PER_JOB`` not
  ``false``): the job's Active Record connection is the child's own, one at a time.
- resque-pool 0.7 (lib/resque/pool.rb ``CONFIG_FILES``, ``load_config``): ``-c FILE``, ``RESQUE_POOL_CONFIG``, else
  resque-pool.yml or config/resque-pool.yml; ERB, then YAML: ``"queue,list": N`` at the top level and under the
  ``RACK_ENV``/``RAILS_ENV``/``RESQUE_ENV`` section (merged over it); the workers are the sum of the N. The pool
  manager itself runs no job.
- delayed_job 4.x: ``rake jobs:work`` is one worker process, one job at a time; ``bin/delayed_job -n N`` (or
  ``--number_of_workers=N``) starts N.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import yaml

from harness.check.model import Problem, Setting, unknown
from harness.check.rails_files import ProcLine, option
from harness.check.rails_uses import render_erb, yaml_lookup

ONE_THREAD = "1 thread per process (one job at a time)"


def resque(line: ProcLine, env: Mapping[str, str]) -> tuple[Setting, Setting]:
    threads = Setting(value=1, source=f"Resque: {ONE_THREAD}")
    if not any(w.endswith("resque:workers") for w in line.words):
        return Setting(value=1, source="rake resque:work: 1 worker process"), threads
    given = env.get("COUNT")
    where = f"{line.at}: COUNT={given}" if "COUNT" in line.env else "env COUNT"
    if given is None:
        return Setting(value=1, source="rake resque:workers: COUNT unset, 1 worker process"), threads
    if not given.strip().isdigit():
        return unknown(source=f"{where}={given!r} is not a number", fix=f"--set {line.name}.processes=N"), threads
    return Setting(value=int(given), source=f"{where} (rake resque:workers: a process each)"), threads


def delayed_job(line: ProcLine) -> tuple[Setting, Setting]:
    threads = Setting(value=1, source=f"delayed_job: {ONE_THREAD}")
    given = option(line.words, "-n", "--number_of_workers")
    if given is not None and given.isdigit():
        return Setting(value=int(given), source=f"{line.at}: -n {given}"), threads
    if given is not None:
        return unknown(source=f"{line.at}: -n {given!r}", fix=f"--set {line.name}.processes=N"), threads
    return Setting(value=1, source="delayed_job: 1 worker process"), threads


def fork_per_job(env: Mapping[str, str]) -> bool:
    return env.get("FORK_PER_JOB", "") != "false"


def resque_pool(app_dir: Path, line: ProcLine, env: Mapping[str, str],
                problems: list[Problem]) -> tuple[Setting, Setting]:
    threads = Setting(value=1, source=f"resque-pool: {ONE_THREAD}")
    fix = f"--set {line.name}.processes=N"
    given = option(line.words, "-c", "--config") or env.get("RESQUE_POOL_CONFIG")
    candidates = [given] if given else ["resque-pool.yml", "config/resque-pool.yml"]
    rel = next((c for c in candidates if (app_dir / c).is_file()), None)
    if rel is None:
        problems.append(Problem(path=candidates[-1], what="not found: resque-pool starts no worker without it",
                                fix=fix))
        return unknown(source=f"no {' or '.join(candidates)}", fix=fix), threads
    text = render_erb((app_dir / rel).read_text(encoding="utf-8", errors="replace"), dict(env))
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as error:
        problems.append(Problem(path=rel, what=f"not YAML: {str(error).splitlines()[0]}", fix=fix))
        return unknown(source=f"{rel} unreadable", fix=fix), threads
    if not isinstance(data, dict):
        return unknown(source=f"{rel}: not a mapping", fix=fix), threads
    rails_env = env.get("RESQUE_ENV") or env.get("RACK_ENV") or env.get("RAILS_ENV") or "development"
    entries: dict[str, tuple[object, list[str]]] = {str(k): (v, [str(k)]) for k, v in data.items()
                                                     if not isinstance(v, dict)}
    section = data.get(rails_env)
    if isinstance(section, dict):
        entries.update({str(k): (v, [rails_env, str(k)]) for k, v in section.items()})
    total, parts = 0, []
    for queues, (value, path) in entries.items():
        _, line_no = yaml_lookup(text, path)
        where = f"{rel}:{line_no}"
        if isinstance(value, int):
            total += value
            parts.append(f"{queues} {value} ({where})")
            continue
        code = re.sub(r"^__code__ ", "", str(value))
        what = "the build machine's processor count, not the dyno's" if "processor_count" in code else "code"
        problems.append(Problem(path=where, what=f"{queues}: {code!r} is {what}", fix=fix))
        return unknown(source=f"{where}: {queues}: {code!r} ({what})", fix=fix), threads
    if not parts:
        return unknown(source=f"{rel}: no workers for {rails_env}", fix=fix), threads
    return Setting(value=total, source="resque-pool workers: " + " + ".join(parts)), threads
