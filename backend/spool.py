"""Durable hand-off of hits from the request to the store.

A hit that was answered with 200 must never be lost. Before the response goes out, the hit is
appended as one JSON line to this process's spool file (a buffered write that survives the
process dying once it returns); a background thread writes the spool to the store in batches
every quarter of a second, and keeps retrying, with back-off, while the store is down. The
store's writes are idempotent by hit id, so a hit written twice (a crash between the store
write and the spool's removal) is still kept once.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import orjson

from .store import Hit, Store

log = logging.getLogger(__name__)

BATCH = 200
LEFTOVER_SCAN = 5.0
MAX_BACKOFF = 30.0


class Spool:
    def __init__(
        self,
        directory: Path,
        store: Store,
        *,
        interval: float = 0.25,
        on_written: Callable[[list[Hit]], None] | None = None,
    ):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.store = store
        self.interval = interval
        self.on_written = on_written
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = None
        self._file = None
        self._dirty = False

    def _path(self) -> Path:
        return self.directory / f"hits-{os.getpid()}.jsonl"

    def append(self, hit: Hit) -> None:
        """Keep a hit on local disk until the store takes it."""
        line = orjson.dumps(hit.to_json()) + b"\n"
        with self._lock:
            # Reopen after a fork: each gunicorn worker writes its own file.
            if self._file is None or self._pid != os.getpid():
                self._file = open(self._path(), "ab")  # noqa: SIM115
                self._pid = os.getpid()
            self._file.write(line)
            self._file.flush()
            self._dirty = True
        if self._thread is None:
            self._ensure_thread()

    def pending(self) -> int:
        """How many hits wait in the spool (across every process's file)."""
        count = 0
        for path in self.directory.glob("hits-*.jsonl*"):
            try:
                with open(path, "rb") as handle:
                    count += sum(1 for line in handle if line.strip())
            except FileNotFoundError:
                continue  # claimed and written while we counted

        return count

    def drain(self) -> int:
        """Write spooled hits to the store; return how many went. Raises if the store fails.

        A process drains its own file and those of processes that are gone; a live worker's
        file is left to that worker, which may still be appending to it.
        """
        me = os.getpid()
        for path in sorted(self.directory.glob("hits-*.jsonl")):
            owner = _pid_in(path.name)
            if owner != me and _alive(owner):
                continue
            claimed = path.with_name(f"{path.name}.{me}-{uuid.uuid4().hex}.claimed")
            with self._lock:
                if owner == me and self._file is not None:
                    self._file.close()
                    self._file = None
                try:
                    os.rename(path, claimed)
                except FileNotFoundError:
                    continue  # another process claimed it first
        written = 0
        for claimed in sorted(self.directory.glob("hits-*.claimed")):
            claimer = _pid_in(claimed.name.split(".jsonl.", 1)[1])
            if claimer == me or not _alive(claimer):
                written += self._write_claimed(claimed)
        return written

    def _write_claimed(self, claimed: Path) -> int:
        hits = []
        try:
            with open(claimed, "rb") as handle:
                for line in handle:
                    try:
                        hits.append(Hit.from_json(orjson.loads(line)))
                    except (ValueError, KeyError, TypeError):
                        # A torn last line from a killed process: nothing to recover in it.
                        log.warning("skipping an unreadable spool line in %s", claimed.name)
        except FileNotFoundError:
            return 0  # another worker finished it
        for start in range(0, len(hits), BATCH):
            batch = hits[start : start + BATCH]
            self.store.record_hits(batch)
            if self.on_written:
                self.on_written(batch)
        claimed.unlink(missing_ok=True)
        if hits:
            log.info("wrote %d spooled hits to the store", len(hits))
        return len(hits)

    def _final_drain(self) -> None:
        """At interpreter exit (a worker stopping), hand what waits to the store if it answers."""
        if not self._dirty or self._stopped.is_set():
            return
        try:
            self.drain()
        except Exception as exc:  # left on disk; the next process to start writes it
            log.warning("spooled hits stay on disk for the next start: %s", exc)

    def start(self) -> None:
        """Drain leftovers from earlier runs in the background, and keep draining."""
        atexit.register(self._final_drain)
        self._ensure_thread()
        self._wake.set()

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(target=self._loop, name="mailtick-spool", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        # Batches every `interval` while hits arrive; a look for other processes' leftovers
        # every few seconds; doubling waits, up to half a minute, while the store is down.
        delay, next_scan = self.interval, 0.0
        while not self._stopped.is_set():
            self._wake.wait(delay)
            self._wake.clear()
            if self._stopped.is_set():
                break
            now = time.monotonic()
            if not self._dirty and now < next_scan:
                continue
            next_scan = now + LEFTOVER_SCAN
            self._dirty = False
            try:
                self.drain()
                delay = self.interval
            except Exception as exc:  # the store is down: keep the hits, try later
                self._dirty = True
                delay = min(max(delay * 2, 0.5), MAX_BACKOFF)
                log.warning("store refuses spooled hits (%s); retrying in %.1f s", exc, delay)

    def stop(self) -> None:
        self._stopped.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)


def _pid_in(name: str) -> int:
    digits = name.removeprefix("hits-").split(".")[0].split("-")[0]
    return int(digits) if digits.isdigit() else 0


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
