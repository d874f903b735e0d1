"""The official Cloud Firestore emulator for the test session, and stores that talk to it alone.

A test module wraps `session_emulator` and `fresh_store` in its own fixtures. One emulator
serves the whole session however many modules use it: it is started on first use and stopped
when the last session fixture is torn down. FIRESTORE_EMULATOR_HOST is never put into
os.environ: each store is pointed at the emulator by itself, so no other test is affected.

Where java or the emulator jar is missing the tests skip, saying what to install; set
MAILTICK_REQUIRE_FIRESTORE=1 (CI) to make that a failure instead.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests

from backend.store.firestore import FirestoreStore

JAR = Path(
    os.environ.get(
        "MAILTICK_FIRESTORE_EMULATOR_JAR",
        "/usr/lib/google-cloud-sdk/platform/cloud-firestore-emulator/cloud-firestore-emulator.jar",
    )
)
MAIN_CLASS = "com.google.cloud.datastore.emulator.firestore.CloudFirestore"
INSTALL = "apt-get install google-cloud-cli-firestore-emulator default-jre-headless"
READY = "Dev App Server is now running"
PROJECT = "mailtick-test"
STARTUP_SECONDS = 60


def missing() -> str | None:
    """Why the emulator cannot run here, or None."""
    if shutil.which("java") is None:
        return f"Firestore emulator needs java, which is not installed: {INSTALL}"
    if not JAR.is_file():
        return f"Firestore emulator jar not found at {JAR}: {INSTALL}"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class FirestoreEmulator:
    """One emulator process on 127.0.0.1."""

    def __init__(self, log_path: Path):
        self.log_path = log_path
        self.port = _free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [
                    "java",
                    "-Duser.language=en",  # as the SDK's wrapper script: English messages only
                    "-cp",
                    str(JAR),
                    MAIN_CLASS,
                    "start",
                    "--host=127.0.0.1",
                    f"--port={self.port}",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if READY in self.log():
                return
            if self.process.poll() is not None:
                raise RuntimeError(f"the Firestore emulator exited:\n{self.log()[-3000:]}")
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(
            f"the Firestore emulator was not ready in {STARTUP_SECONDS} s:\n{self.log()[-3000:]}"
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def reset(self) -> None:
        """Delete every document of the test project."""
        response = requests.delete(
            f"http://{self.host}/emulator/v1/projects/{PROJECT}/databases/(default)/documents",
            timeout=10,
        )
        response.raise_for_status()

    def store(self, **options) -> FirestoreStore:
        return FirestoreStore(PROJECT, emulator_host=self.host, timeout=5.0, **options)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


class _Shared:
    """The session's single emulator, counted so that the last user stops it."""

    def __init__(self):
        self.lock = threading.Lock()
        self.emulator: FirestoreEmulator | None = None
        self.users = 0

    def acquire(self, tmp_path_factory) -> FirestoreEmulator:
        with self.lock:
            if self.emulator is None:
                directory = tmp_path_factory.mktemp("firestore")
                emulator = FirestoreEmulator(directory / "emulator.log")
                emulator.start()
                self.emulator = emulator
            self.users += 1
            return self.emulator

    def release(self) -> None:
        with self.lock:
            self.users -= 1
            if self.users == 0 and self.emulator is not None:
                self.emulator.stop()
                self.emulator = None


_shared = _Shared()


def session_emulator(tmp_path_factory):
    """Yield the running emulator; skip (or fail, under MAILTICK_REQUIRE_FIRESTORE) if absent.

    For a session-scoped fixture: `yield from session_emulator(tmp_path_factory)`.
    """
    reason = missing()
    if reason:
        if os.environ.get("MAILTICK_REQUIRE_FIRESTORE"):
            pytest.fail(reason)
        pytest.skip(reason)
    emulator = _shared.acquire(tmp_path_factory)
    try:
        yield emulator
    finally:
        _shared.release()


def fresh_store(emulator: FirestoreEmulator):
    """Yield a FirestoreStore on an emptied emulator database, closed afterwards."""
    emulator.reset()
    store = emulator.store()
    try:
        yield store
    finally:
        store.close()
