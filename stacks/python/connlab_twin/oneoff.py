"""A one-off process (bin/oneoff): a console or script holding connections.

It opens CONNLAB_CONNECTIONS Postgres connections (application_name =
CONNLAB_GROUP), runs ``SELECT 1`` on each, holds them idle for CONNLAB_HOLD_S
seconds and exits 0. Holding them idle (which the contract allows) rather than
inside a long ``pg_sleep`` means that if the harness kills this process, the
server sees the sockets close and frees the slots at once, instead of keeping
the backends busy until their sleep ends. If a connection cannot be made the
process prints one line and exits 1.
"""

from __future__ import annotations

import os
import sys
import time
from contextlib import ExitStack

from sqlalchemy import text

from connlab_twin import config, db, errors

#: The pool is exactly CONNLAB_CONNECTIONS big, so a checkout never waits.
_CHECKOUT_TIMEOUT_S = 30.0


def main() -> int:
    """Hold the connections, then exit 0 (1 if one could not be opened)."""
    settings = config.oneoff()
    engine = db.make_engine(
        settings.url,
        group=settings.group,
        pool_size=settings.connections,
        checkout_timeout_s=_CHECKOUT_TIMEOUT_S,
    )
    try:
        with ExitStack() as held:
            for _ in range(settings.connections):
                conn = held.enter_context(engine.connect())
                conn.execute(text("SELECT 1"))
                conn.commit()
            print(
                f"connlab-oneoff group={settings.group} pid={os.getpid()} "
                f"holding {settings.connections} connection(s) for {settings.hold_s:g}s",
                file=sys.stderr,
                flush=True,
            )
            time.sleep(settings.hold_s)
    except Exception as exc:
        print(
            f"connlab-oneoff failed: {errors.class_name(exc)}: {errors.first_line(exc)}",
            file=sys.stderr,
        )
        return 1
    finally:
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
