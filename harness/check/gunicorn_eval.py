"""Run apart by ``harness.check.python``: evaluate one gunicorn config file the way gunicorn does, print its settings.

    python -I -B gunicorn_eval.py APP_DIR CONFIG_FILE

gunicorn (``gunicorn.app.base``) puts its working directory first on ``sys.path``, loads the file as a module
named ``__config__`` and keeps the names that are settings. This script does the same in a process of its own,
started with only the env connlab was given, and prints one line, ``MARKER`` then JSON: ``{"settings": {...}}``
(the settings connlab reads; a value that is not a number or a string as its ``repr``) or ``{"error": "Type:
message"}``. Whatever the config prints goes to stderr, so the answer stays one line.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import os
import sys
from typing import Any

MARKER = "connlab-gunicorn-config:"
NAMES = ("workers", "threads", "worker_class", "worker_connections")


def _plain(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | str):
        if isinstance(value, type):  # gunicorn takes a worker class object too
            return f"{value.__module__}.{value.__qualname__}"
        return repr(value)
    return value


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def main(argv: list[str]) -> int:
    app_dir, path = argv[1], argv[2]
    answer_to = sys.stdout
    sys.stdout = sys.stderr  # the config's own prints must not mix with the answer
    answer: dict[str, Any]
    try:
        os.chdir(app_dir)
        sys.path.insert(0, app_dir)
        loader = importlib.machinery.SourceFileLoader("__config__", path)
        spec = importlib.util.spec_from_file_location("__config__", path, loader=loader)
        assert spec is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["__config__"] = module
        loader.exec_module(module)
        found = vars(module)
        answer = {"settings": {name: _plain(found[name]) for name in NAMES if name in found}}
    except BaseException as exc:  # SystemExit and KeyboardInterrupt from a config are answers too
        answer = {"error": _one_line(exc)}
    answer_to.write(MARKER + json.dumps(answer) + "\n")
    answer_to.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
