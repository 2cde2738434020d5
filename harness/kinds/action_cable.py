"""ActionCable's redis subscription adapter, per process that loads the app.

From Rails' source (actioncable/lib/action_cable/subscription_adapter/redis.rb, the same at v6.1.7, v7.1.6, v8.0.5
and v8.1.3): the adapter holds at most two ``Redis.new`` clients per process, each built on first use and kept:

    listener                        ``Listener.new`` on the first ``subscribe``: one connection in SUBSCRIBE mode,
                                    on its own thread, for every channel this process's WebSockets follow
    redis_connection_for_broadcasts built on the first ``broadcast`` (``ActionCable.server.broadcast``, a Turbo
                                    Stream from a model callback or a job)

Per web process (it serves WebSockets)::

    expected = 1    the listener, once one client subscribed
    worst    = 2    + the broadcast client, once this process broadcast anything

Per job or one-off process (no WebSocket served, only broadcasts)::

    expected = 0    nothing until a job broadcasts
    worst    = 1    the broadcast client

Neither depends on threads or load beyond first use. Not measured here: the sample apps mount no ActionCable.
"""

from __future__ import annotations

from harness.kinds.demand import Demand


def web_redis() -> Demand:
    return Demand(expected=1, worst=2, formula="1 .. 2: the subscription listener + the broadcast client (ActionCable)")


def broadcaster_redis() -> Demand:
    return Demand(expected=0, worst=1, formula="0 .. 1: the broadcast client, once a job broadcasts (ActionCable)")
