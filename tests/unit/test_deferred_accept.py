"""How a worker shares the listening socket (`cds.server.DeferredAccept`): the worker already
holding connections lets the other take a new one first, and takes it itself if nobody did."""

from __future__ import annotations

import time

from cds.server import (
    ACCEPT_DEFER_MAX,
    ACCEPT_DEFER_PER_CONNECTION,
    DeferredAccept,
    _active_connections,
)


class Listener:
    """waitress's listening dispatcher as the event loop sees it: readable, then handle_accept."""

    def __init__(self) -> None:
        self.accepted = 0

    def readable(self) -> bool:
        return True

    def handle_accept(self) -> None:
        self.accepted += 1


def test_a_worker_without_connections_accepts_at_once() -> None:
    listener = Listener()
    deferred = DeferredAccept(listener, lambda: 0)
    assert listener.readable()
    listener.handle_accept()
    assert listener.accepted == 1 and deferred.wait() is None


def test_a_worker_holding_connections_waits_then_accepts_what_is_left() -> None:
    listener = Listener()
    deferred = DeferredAccept(listener, lambda: 2)
    listener.handle_accept()  # a connection is pending: wait 2 x the per-connection delay
    assert listener.accepted == 0
    assert not listener.readable()  # not polled meanwhile: the other worker may take it
    waiting = deferred.wait()
    assert waiting is not None and 0 < waiting <= 2 * ACCEPT_DEFER_PER_CONNECTION
    time.sleep(waiting)
    assert listener.readable()
    listener.handle_accept()  # nobody took it: this worker does
    assert listener.accepted == 1 and deferred.wait() is None


def test_the_wait_is_bounded_however_many_connections_a_worker_holds() -> None:
    listener = Listener()
    deferred = DeferredAccept(listener, lambda: 400)
    listener.handle_accept()
    waiting = deferred.wait()
    assert waiting is not None and waiting <= ACCEPT_DEFER_MAX


class Channel:
    """A waitress connection as the worker counts it: when it last read or wrote."""

    def __init__(self, idle_seconds: float) -> None:
        self.last_activity = time.time() - idle_seconds


def test_only_connections_busy_in_the_last_second_count_as_load() -> None:
    """An EHR that opens a connection per call and leaves it open must not slow every accept."""
    socket_map = {
        1: Channel(idle_seconds=0.01),  # a call in flight
        2: Channel(idle_seconds=0.5),
        3: Channel(idle_seconds=20),  # an idle keep-alive connection
        4: Listener(),  # the listening socket is no connection
    }
    assert _active_connections(socket_map, Channel) == 2
