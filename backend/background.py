"""Work that runs beside the requests: classifying settled hits, and periodic clean-up.

Each gunicorn worker runs one thread. The work is safe to run in several processes at once:
the store applies a verdict only to a hit that is still unclassified, so a hit two workers
classify together moves the aggregates once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from datetime import datetime, timedelta

from .classify import (
    AFTER_SEND,
    DUPLICATE_WINDOW,
    SCAN_BURST,
    SELF_AFTER,
    SELF_BEFORE,
    SETTLE,
    classify_pending,
    settled,
)
from .store import Hit, Store, utcnow

log = logging.getLogger(__name__)

# How far around a batch of pending hits the classifier looks for the hits that explain them.
LOOK_BEHIND = max(DUPLICATE_WINDOW, SELF_AFTER, SCAN_BURST, AFTER_SEND)
LOOK_AHEAD = max(SELF_BEFORE, SCAN_BURST, max(SETTLE.values()))
PASS_LIMIT = 500
# Hits still unclassified this long after they arrived are swept up from the store by any
# process: their own process died, or they reached the store without passing its spool.
STRAGGLER_AGE = timedelta(seconds=30)


def classify_hits(store: Store, pending: list[Hit]) -> list[Hit]:
    """Classify these settled hits with their messages' context; return those applied."""
    by_message: dict[str, list[Hit]] = defaultdict(list)
    for hit in pending:
        by_message[hit.message_id].append(hit)
    applied: list[Hit] = []
    for message_id, hits in by_message.items():
        message = store.message_by_id(message_id)
        start = min(hit.at for hit in hits) - LOOK_BEHIND
        end = max(hit.at for hit in hits) + LOOK_AHEAD
        nearby = store.hits_between(message_id, start, end)
        applied += store.apply_verdicts(classify_pending(message, hits, nearby))
    return applied


class Worker:
    """One background thread per process: classify every second, clean up every hour, and
    run the periodic `jobs` other features add.

    Each process classifies the hits its own spool wrote (handed over in memory, so two
    workers never do the same work), and now and then sweeps the store for stragglers.
    """

    def __init__(
        self,
        store: Store,
        *,
        retention: timedelta,
        interval: float = 1.0,
        cleanup_every: float = 3600.0,
        on_classified: Callable[[list[Hit]], None] | None = None,
    ):
        self.store = store
        self.retention = retention
        self.interval = interval
        self.cleanup_every = cleanup_every
        self.on_classified = on_classified
        # Periodic work other features add, as (seconds between runs, fn): run from this
        # thread after classification (insights, issue 7: firing follow-up reminders).
        self.jobs: list[tuple[float, Callable[[], object]]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._queue: deque[Hit] = deque()

    def start(self) -> Worker:
        self._thread = threading.Thread(target=self._loop, name="mailtick-background", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)

    def enqueue(self, hits: list[Hit]) -> None:
        """Hits this process just wrote to the store, to classify once they settle."""
        self._queue.extend(hit for hit in hits if not hit.cls)

    def run_once(self, now: datetime | None = None, *, sweep: bool = True) -> list[Hit]:
        """Classify this process's settled hits and, with `sweep`, the store's stragglers."""
        now = now or utcnow()
        ready: dict[str, Hit] = {}
        waiting = []
        while self._queue:
            hit = self._queue.popleft()
            (ready.__setitem__(hit.id, hit) if settled(hit, now) else waiting.append(hit))
        self._queue.extend(waiting)
        if sweep:
            for hit in self.store.pending_hits(now - STRAGGLER_AGE, PASS_LIMIT):
                ready.setdefault(hit.id, hit)
        applied = classify_hits(self.store, list(ready.values())) if ready else []
        if applied and self.on_classified:
            self.on_classified(applied)
        return applied

    def clean_up(self, now: datetime | None = None) -> dict:
        now = now or utcnow()
        reservations = self.store.purge_reservations(now)
        hits = self.store.purge_hits(now - self.retention)
        # The activity feed (notifications) holds what the hits held: it goes with them.
        activity = self.store.purge_activity(now - self.retention)
        if reservations or hits or activity:
            log.info(
                "dropped %d unsent reservations, %d expired hits and %d feed items",
                reservations,
                hits,
                activity,
            )
        return {
            "purged_reservations": reservations,
            "purged_hits": hits,
            "purged_activity": activity,
        }

    def _loop(self) -> None:
        next_cleanup = time.monotonic() + min(60.0, self.cleanup_every)
        next_sweep = time.monotonic()
        next_job: dict[int, float] = {}
        while not self._stop.wait(self.interval):
            try:
                sweep = time.monotonic() >= next_sweep
                if sweep:
                    next_sweep = time.monotonic() + STRAGGLER_AGE.total_seconds()
                self.run_once(sweep=sweep)
                if time.monotonic() >= next_cleanup:
                    next_cleanup = time.monotonic() + self.cleanup_every
                    self.clean_up()
                for index, (every, job) in enumerate(list(self.jobs)):
                    if time.monotonic() >= next_job.get(index, 0.0):
                        next_job[index] = time.monotonic() + every
                        job()
            except Exception as exc:  # the store is down: hits wait, try again next tick
                log.warning("background work failed, will retry: %s", exc)
