"""How an app says it runs: its process types and each one's command, for both readers (``rails_files``,
``py_procfile``), with the file and line each command came from.

Sources, in this order of trust; **the first that names a process type wins** (they are not merged), except that
Kamal's env (``env:`` / ``env: clear:`` at the top and under each role) is the production env of the roles it
names, so it is given to the types of those names whichever source won (not over ``--env``):

1. ``Procfile``.
2. A ``Procfile.*`` that ``foreman start -f Procfile.x`` (or ``overmind``/``honcho start -f``) names in ``bin/*``,
   ``script(s)/*``, ``*.sh`` or the ``Dockerfile``. ``bin/dev`` and ``Procfile.dev``/``.development``/``.test`` are
   development, never read.
3. Kamal's ``config/deploy.yml``: ``servers:`` as a list is the ``web`` role; a role with ``cmd:`` runs it; a role
   without one (the web) runs the image's CMD, read from the Dockerfile.
4. ``docker-compose.yml``, ``docker-compose.yaml``, ``compose.yaml``, ``compose.yml``, else ``docker-compose.*.yml``
   or ``compose.*.yml`` (``compose.example.yml``, as self-hosted apps ship it; ``prod`` ones first): each
   service's ``command`` (else its ``build``'s Dockerfile CMD) and ``environment``;
   services whose image is a database, cache, proxy or search server (``INFRA``) are not the app's.
5. The Dockerfile's ``CMD`` (exec or shell form; after ENTRYPOINT unless that is an entrypoint script or an
   init): the ``web``.
6. systemd service units (``contrib/netbox.service``, ``harness.check.systemd_units``): a type per unit, named
   after it, its ``Environment=`` given, its ``WorkingDirectory``'s absolute paths read as the app's files.

Each command is followed through the wrappers real apps put in front of their servers (``wrappers.strip``, one
function for both readers: ``bundle exec``, ``bin/thrust``, ``sh -c``, ``cd DIR &&``, ``env``, tini, tracers,
``bin/start-pgbouncer`` noted, an app's own start script) and ``foreman start [-f F]`` (the lines of the Procfile it
runs). Nothing found: ``found.launches`` is empty and ``LOOKED`` says where connlab looked.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from harness.check.model import Problem
from harness.check.systemd_units import localize, units
from harness.check.wrappers import IsServer, Stripped, expand, foreman_procfile, strip, words_of

LOOKED = ("Procfile; a Procfile.* named by `foreman start -f` (bin/*, script/*, *.sh, Dockerfile); config/deploy.yml "
          "(Kamal); docker-compose.yml / compose.yaml / (docker-)compose.*.yml; the Dockerfile's CMD; systemd units "
          "(*.service, ExecStart)")
COMPOSE = ("docker-compose.yml", "docker-compose.yaml", "compose.yaml", "compose.yml")
INFRA = ("postgres", "postgis", "timescale", "redis", "valkey", "keydb", "dragonfly", "memcached", "nginx", "caddy",
         "traefik", "haproxy", "elasticsearch", "opensearch", "meilisearch", "typesense", "solr", "mysql", "mariadb",
         "mongo", "rabbitmq", "kafka", "zookeeper", "minio", "mailhog", "mailpit", "mailcatcher", "pgbouncer",
         "selenium", "chrome", "browserless", "localstack", "clickhouse", "gotenberg", "tika", "imgproxy")
DEV = ("Procfile.dev", "Procfile.development", "Procfile.test", "Procfile.local")
_PROCFILE = re.compile(r"^([A-Za-z0-9_-]+)\s*:\s*(.*?)\s*$")
_FOREMAN = re.compile(r"\b(?:foreman|overmind|honcho)\s+start\b[^\n]*?(?:-f|--procfile)[ =]\"?([\w./-]+)")


@dataclass(frozen=True, kw_only=True)
class Launch:
    """One process type: its name, the command as written at ``where``, and that command past its wrappers."""

    name: str
    text: str
    where: str  # "Procfile:3", "config/deploy.yml:12", "Dockerfile:40", "docker-compose.yml:9"
    label: str  # in sources: "Procfile web", "config/deploy.yml:12 job"
    command: Stripped
    #: the env the launcher gives the process (Kamal's env clear, compose's environment), each var's file:line
    env: dict[str, str] = field(default_factory=dict)
    env_where: dict[str, str] = field(default_factory=dict)
    line: int = 0


@dataclass(frozen=True, kw_only=True)
class Found:
    launches: tuple[Launch, ...]
    #: the file the process types came from ("" when none did), and the notes to show (which source, Kamal's env)
    source: str
    notes: tuple[Problem, ...] = ()


# -- the sources -------------------------------------------------------------------------------------------------

def find(app_dir: Path, *, env: Mapping[str, str], is_server: IsServer) -> Found:
    """The process types of the first source that has any; Kamal's env given to the types it names."""
    notes: list[Problem] = []
    kamal = _kamal(app_dir, env, is_server, notes)
    readers: list[Callable[[], tuple[list[Launch], str]]] = [
        lambda: _procfile_source(app_dir, is_server), lambda: _foreman_source(app_dir, is_server), lambda: kamal,
        lambda: _compose(app_dir, env, is_server), lambda: _dockerfile_source(app_dir, is_server),
        lambda: _systemd_source(app_dir, env, is_server)]
    for reader in readers:
        launches, source = reader()
        if launches:
            break
    else:
        return Found(launches=(), source="", notes=tuple(notes))
    if source != "config/deploy.yml" and kamal[0]:
        named = {k.name: k for k in kamal[0]}
        applied = []
        for i, launch in enumerate(launches):
            role = named.get(launch.name)
            if role is not None and role.env:
                launches[i] = replace(launch, env={**role.env, **launch.env},
                                      env_where={**role.env_where, **launch.env_where})
                applied.append(f"{launch.name} ({', '.join(role.env)})")
        if applied:
            notes.append(Problem(path="config/deploy.yml", what=f"Kamal's env given to {'; '.join(applied)}",
                                 fix=f"process types from {source}; --env K=V wins over it"))
    if source != "Procfile":
        shown = ", ".join(f"{launch.name} ({launch.where}" + (f"; via {', '.join(launch.command.via)}"
                                                              if launch.command.via else "") + ")"
                          for launch in launches)
        notes.insert(0, Problem(path=source, what=f"process types from here, no Procfile: {shown}",
                                fix=f"connlab reads the first of: {LOOKED}"))
    return Found(launches=tuple(launches), source=source, notes=tuple(notes))


def procfile_lines(app_dir: Path, name: str, is_server: IsServer, seen: tuple[str, ...] = ()) -> list[Launch]:
    """A Procfile's lines (a name given twice: the last), each past its wrappers; ``foreman start`` followed."""
    try:
        text = (app_dir / name).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    found: dict[str, Launch] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = _PROCFILE.match(raw.strip())
        if line is None or raw.lstrip().startswith("#"):
            continue
        label = f"{name} {line.group(1)}"
        for launch in _launches(app_dir, line.group(1), line.group(2), f"{name}:{number}", label, is_server,
                                (*seen, name), number):
            found[launch.name] = launch
    return list(found.values())


def _launches(app_dir: Path, name: str, text: str, where: str, label: str, is_server: IsServer,
              seen: tuple[str, ...], number: int = 0, words: Sequence[str] | None = None) -> list[Launch]:
    given = list(words) if words is not None else words_of(text)
    command = strip(given if given is not None else text.split(), app_dir, is_server)
    inner = foreman_procfile(command.words)
    if inner is not None and inner not in seen and len(seen) < 4:
        follow = f"{' '.join(command.words[:2])} -f {inner} ({where})"
        return [replace(launch, command=replace(launch.command, via=(follow, *launch.command.via)))
                for launch in procfile_lines(app_dir / command.cwd, inner, is_server, seen)]
    return [Launch(name=name, text=text, where=where, label=label, command=command, line=number)]


def _procfile_source(app_dir: Path, is_server: IsServer) -> tuple[list[Launch], str]:
    return procfile_lines(app_dir, "Procfile", is_server), "Procfile"


def _foreman_source(app_dir: Path, is_server: IsServer) -> tuple[list[Launch], str]:
    candidates = [p for d in ("bin", "script", "scripts") if (app_dir / d).is_dir()
                  for p in sorted((app_dir / d).iterdir()) if p.is_file() and p.name != "dev"]
    candidates += sorted(app_dir.glob("*.sh")) + [app_dir / "Dockerfile"]
    for path in candidates:
        try:
            text = path.read_text(errors="replace") if path.stat().st_size < 200_000 else ""
        except OSError:
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            named = _FOREMAN.search(line)
            if named is None or os.path.basename(named.group(1)) in DEV or not (app_dir / named.group(1)).is_file():
                continue
            rel = str(path.relative_to(app_dir))
            launches = procfile_lines(app_dir, named.group(1), is_server)
            follow = f"foreman start -f {named.group(1)} ({rel}:{number})"
            return [replace(launch, command=replace(launch.command, via=(follow, *launch.command.via)))
                    for launch in launches], named.group(1)
    return [], ""


def _dockerfile_source(app_dir: Path, is_server: IsServer) -> tuple[list[Launch], str]:
    found = dockerfile_cmd(app_dir / "Dockerfile")
    if found is None:
        return [], ""
    number, words, text = found
    where = f"Dockerfile:{number}"
    return _launches(app_dir, "web", text, where, f"{where} web", is_server, (), number, words), "Dockerfile"


def _systemd_source(app_dir: Path, env: Mapping[str, str], is_server: IsServer) -> tuple[list[Launch], str]:
    """Service units (``contrib/netbox.service``): one type per unit, named after it, with its Environment=."""
    launches: list[Launch] = []
    found_units = units(app_dir)
    for unit in found_units:
        words, mapped = localize(words_of(unit.command) or unit.command.split(), unit, app_dir)
        where = f"{unit.path}:{unit.line}"
        found = _launches(app_dir, unit.name, unit.command, where, f"{where} {unit.name}", is_server, (), unit.line,
                          words)
        values = {k: expand(v, env) for k, v in unit.env.items()}
        launches += [replace(f, env={**values, **f.env}, env_where={**unit.env_where, **f.env_where},
                             command=replace(f.command, via=(*mapped, *f.command.via))) for f in found]
    return launches, ", ".join(u.path for u in found_units)


def dockerfile_cmd(path: Path) -> tuple[int, list[str], str] | None:
    """(line, words, as written) of the last stage's CMD, after its ENTRYPOINT unless that is an entrypoint
    script or an init (then only the CMD: ``exec "$@"`` runs it)."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return None
    cmd: tuple[int, list[str], str] | None = None
    entry: list[str] = []
    number = 0
    while number < len(lines):
        start, text = number + 1, lines[number]
        while text.rstrip().endswith("\\") and number + 1 < len(lines):
            number += 1
            text = text.rstrip()[:-1] + " " + lines[number].strip()
        number += 1
        found = re.match(r"\s*(FROM|CMD|ENTRYPOINT)\s+(.*)$", text, re.I)
        if found is None:
            continue
        keyword, rest = found.group(1).upper(), found.group(2).strip()
        if keyword == "FROM":
            cmd, entry = None, []
            continue
        try:
            words = [str(w) for w in json.loads(rest)] if rest.startswith("[") else ["sh", "-c", rest]
        except ValueError:
            words = ["sh", "-c", rest]
        if keyword == "CMD":
            cmd = (start, words, rest)
        else:
            entry = words
    if cmd is None:
        return None
    first = os.path.basename(entry[0]) if entry else ""
    if entry and "entrypoint" not in first and first not in ("tini", "dumb-init", "sh", "bash"):
        return cmd[0], [*entry, *cmd[1]], f"{json.dumps(entry)} {cmd[2]}"
    return cmd


# -- Kamal and compose --------------------------------------------------------------------------------------------

def _yaml(app_dir: Path, name: str, notes: list[Problem]) -> yaml.Node | None:
    try:
        text = (app_dir / name).read_text(errors="replace")
    except OSError:
        return None
    text = re.sub(r"<%=.*?%>", "erb", re.sub(r"<%[^=].*?%>", "", text))  # deploy.yml is ERB: lines kept
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        notes.append(Problem(path=name, what=f"not YAML ({str(error).splitlines()[0]})", fix="not read"))
        return None


def _entries(node: yaml.Node | None) -> dict[str, yaml.Node]:
    """A mapping node's keys, ``<<: *anchor`` merged under its own."""
    if not isinstance(node, yaml.MappingNode):
        return {}
    out: dict[str, yaml.Node] = {}
    own: dict[str, yaml.Node] = {}
    for key, value in node.value:
        if key.value == "<<":
            for merged in value.value if isinstance(value, yaml.SequenceNode) else [value]:
                out.update(_entries(merged))
        else:
            own[str(key.value)] = value
    return {**out, **own}


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _env(node: yaml.Node | None, where: str, env: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """Kamal's ``env`` (``clear:``, or a plain map) or compose's ``environment`` (a map or ``K=V`` list)."""
    entries = _entries(node)
    if "clear" in entries or "secret" in entries or "tags" in entries:
        entries = _entries(entries.get("clear"))
    values, lines = {}, {}
    items = [(k, v) for k, v in entries.items()]
    if isinstance(node, yaml.SequenceNode):
        items = [(str(n.value).partition("=")[0], n) for n in node.value if isinstance(n, yaml.ScalarNode)]
    for key, value in items:
        if not isinstance(value, yaml.ScalarNode):
            continue
        text = str(value.value).partition("=")[2] if isinstance(node, yaml.SequenceNode) else str(value.value)
        if value.tag.endswith(":null") or (isinstance(node, yaml.SequenceNode) and "=" not in str(value.value)):
            continue
        values[key] = expand(text, env)
        lines[key] = f"{where}:{_line(value)}"
    return values, lines


def _kamal(app_dir: Path, env: Mapping[str, str], is_server: IsServer,
           notes: list[Problem]) -> tuple[list[Launch], str]:
    name = "config/deploy.yml"
    root = _entries(_yaml(app_dir, name, notes))
    servers = root.get("servers")
    if servers is None:
        return [], ""
    roles = {"web": servers} if isinstance(servers, yaml.SequenceNode) else _entries(servers)
    base, base_where = _env(root.get("env"), name, env)
    launches = []
    for role, node in roles.items():
        spec = _entries(node)
        own, own_where = _env(spec.get("env"), name, env)
        role_env, role_where = {**base, **own}, {**base_where, **own_where}
        cmd = spec.get("cmd")
        if isinstance(cmd, yaml.ScalarNode):
            where = f"{name}:{_line(cmd)}"
            found = _launches(app_dir, role, str(cmd.value), where, f"{where} {role}", is_server, ())
        else:
            image = dockerfile_cmd(app_dir / "Dockerfile")
            where = f"{name}:{_line(node)}"
            if image is None:
                text = "(the image's CMD: no CMD in a Dockerfile here)"
                found = [Launch(name=role, text=text, where=where, label=f"{where} {role}",
                                command=Stripped(words=()), line=_line(node))]
            else:
                found = _launches(app_dir, role, image[2], f"Dockerfile:{image[0]}", f"{where} {role}", is_server,
                                  (), image[0], image[1])
        launches += [replace(f, env=role_env, env_where=role_where) for f in found]
    return launches, name


def _compose(app_dir: Path, env: Mapping[str, str], is_server: IsServer) -> tuple[list[Launch], str]:
    others = sorted([*app_dir.glob("docker-compose.*.y*ml"), *app_dir.glob("compose.*.y*ml")],
                    key=lambda p: ("prod" not in p.name, p.name))  # compose.example.yml: a self-hosting app's
    name = next((n for n in COMPOSE if (app_dir / n).is_file()), None) or next((p.name for p in others), None)
    if name is None:
        return [], ""
    launches: list[Launch] = []
    for service, node in _entries(_entries(_yaml(app_dir, name, [])).get("services")).items():
        spec = _entries(node)
        image = str(getattr(spec.get("image"), "value", ""))
        base = image.rsplit("/", 1)[-1].split(":")[0].split("@")[0].lower()
        if any(base.startswith(infra) for infra in INFRA):
            continue
        service_env, env_where = _env(spec.get("environment"), name, env)
        command = spec.get("command")
        if command is not None:
            words = [str(n.value) for n in command.value] if isinstance(command, yaml.SequenceNode) else None
            text = " ".join(words) if words is not None else str(command.value)
            where = f"{name}:{_line(command)}"
            found = _launches(app_dir, service, text, where, f"{where} {service}", is_server, (), _line(command), words)
        else:
            build = spec.get("build")
            context = _entries(build)
            folder = str(build.value) if isinstance(build, yaml.ScalarNode) else \
                str(getattr(context.get("context"), "value", "."))
            dockerfile = str(getattr(context.get("dockerfile"), "value", "Dockerfile"))
            cmd = dockerfile_cmd(app_dir / folder / dockerfile) if build is not None or image else None
            where = f"{name}:{_line(node)}"
            if cmd is None:
                text = f"(image {image or '?'}'s CMD: not read)"
                found = [Launch(name=service, text=text, where=where, label=f"{where} {service}",
                                command=Stripped(words=()), line=_line(node))]
            else:
                shown = os.path.normpath(os.path.join(folder, dockerfile))
                found = _launches(app_dir, service, cmd[2], f"{shown}:{cmd[0]}", f"{where} {service}", is_server,
                                  (), cmd[0], cmd[1])
                if build is None:  # an image only: this app's, as its Dockerfile builds it (not known for sure)
                    guess = f"image {image}: assumed built from {shown}"
                    found = [replace(f, command=replace(f.command, via=(guess, *f.command.via))) for f in found]
        launches += [replace(f, env={**service_env, **f.env}, env_where={**env_where, **f.env_where}) for f in found]
    return launches, name
