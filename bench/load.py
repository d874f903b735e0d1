"""Drive keep-alive HTTP/1.1 load at a server on 127.0.0.1 and print what happened as JSON.

Run by bench/run.py in its own process, so the load generator's interpreter does not share a
GIL with the benchmark's bookkeeping. It reads one JSON job from stdin:

    {"port": 8080, "connections": 16, "requests": ["GET /p/x.gif HTTP/1.1\\r\\n..."],
     "warmup": 500, "count": 4000, "max_seconds": 30}

Each connection is a thread with one blocking socket that sends a request, reads the whole
response, and sends the next (a closed loop: latency includes queueing in the server). Request
i of a connection is requests[(connection + i * connections) % len(requests)], so every
request in the list is used evenly. The warm-up runs first on the same connections and is not
timed; then all connections start the measured part together. Bounded in count and time: the
measured part stops at `count` requests or after `max_seconds`, whichever comes first.

Standard library only, so it runs on a fresh machine with nothing but the venv.
"""

from __future__ import annotations

import json
import resource
import socket
import sys
import threading
import time

HOST = "127.0.0.1"  # the only target this tool will ever load


class Connection:
    """One keep-alive connection that sends raw requests and reads whole responses."""

    def __init__(self, port: int):
        self.port = port
        self.sock: socket.socket | None = None
        self.buffer = b""

    def _connect(self) -> socket.socket:
        sock = socket.create_connection((HOST, self.port), timeout=30)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""
        return sock

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def request(self, raw: bytes) -> tuple[int, int]:
        """Send one request; return (status, body length). Raises OSError if the socket fails."""
        if self.sock is None:
            self.sock = self._connect()
        try:
            self.sock.sendall(raw)
            status, length, keep = self._read_response()
        except OSError:
            self.close()
            raise
        if not keep:
            self.close()
        return status, length

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionResetError("server closed the connection mid-response")
        self.buffer += chunk

    def _read_response(self) -> tuple[int, int, bool]:
        while (end := self.buffer.find(b"\r\n\r\n")) < 0:
            self._fill()
        head = self.buffer[:end].decode("latin-1")
        self.buffer = self.buffer[end + 4 :]
        lines = head.split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        fields = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
        keep = fields.get("connection", "").lower() != "close"
        if "content-length" in fields:
            length = int(fields["content-length"])
            while len(self.buffer) < length:
                self._fill()
            self.buffer = self.buffer[length:]
        elif fields.get("transfer-encoding", "").lower() == "chunked":
            length = self._read_chunked()
        else:  # body runs to the end of the connection
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                self.buffer += chunk
            length, self.buffer, keep = len(self.buffer), b"", False
        return status, length, keep

    def _read_chunked(self) -> int:
        total = 0
        while True:
            while (end := self.buffer.find(b"\r\n")) < 0:
                self._fill()
            size = int(self.buffer[:end].split(b";")[0], 16)
            self.buffer = self.buffer[end + 2 :]
            while len(self.buffer) < size + 2:
                self._fill()
            self.buffer = self.buffer[size + 2 :]
            total += size
            if size == 0:
                # A zero chunk may be followed by trailers; none of our servers send them.
                return total


def run(job: dict) -> dict:
    port = int(job["port"])
    connections = int(job["connections"])
    requests = [raw.encode("latin-1") for raw in job["requests"]]
    warmup, count = int(job["warmup"]), int(job["count"])
    max_seconds = float(job["max_seconds"])

    lock = threading.Lock()
    statuses: dict[int, int] = {}
    warm_statuses: dict[int, int] = {}
    errors: list[str] = []
    latencies: list[list[float]] = [[] for _ in range(connections)]
    finished = [0.0] * connections
    start = {"at": 0.0, "deadline": 0.0}

    def begin():
        start["at"] = time.perf_counter()
        start["deadline"] = start["at"] + max_seconds

    barrier = threading.Barrier(connections, action=begin)

    def shares(total: int) -> list[int]:
        return [
            total // connections + (1 if i < total % connections else 0) for i in range(connections)
        ]

    warm_share, count_share = shares(warmup), shares(count)

    def drive(index: int) -> None:
        try:
            connection(index)
        except threading.BrokenBarrierError:
            pass  # another connection failed before the timed part; its error says why
        except Exception as exc:  # a bug or a garbled response: stop everyone, report it
            with lock:
                errors.append(f"connection {index} stopped: {exc!r}")
            barrier.abort()

    def connection(index: int) -> None:
        conn = Connection(port)
        sequence = index
        try:
            for _ in range(warm_share[index]):
                raw = requests[sequence % len(requests)]
                sequence += connections
                try:
                    status, _ = conn.request(raw)
                except OSError as exc:
                    with lock:
                        errors.append(f"warm-up: {exc!r}")
                    continue
                with lock:
                    warm_statuses[status] = warm_statuses.get(status, 0) + 1
            barrier.wait()
            mine = latencies[index]
            for _ in range(count_share[index]):
                if time.perf_counter() > start["deadline"]:
                    break
                raw = requests[sequence % len(requests)]
                sequence += connections
                sent = time.perf_counter()
                try:
                    status, _ = conn.request(raw)
                except OSError as exc:
                    with lock:
                        errors.append(repr(exc))
                    continue
                mine.append(time.perf_counter() - sent)
                with lock:
                    statuses[status] = statuses.get(status, 0) + 1
            finished[index] = time.perf_counter()
        finally:
            conn.close()

    threads = [threading.Thread(target=drive, args=(i,), daemon=True) for i in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    elapsed = max(finished) - start["at"] if start["at"] else 0.0
    timed = sorted(value for per_connection in latencies for value in per_connection)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "completed": len(timed),
        "elapsed_s": elapsed,
        "statuses": statuses,
        "warmup_statuses": warm_statuses,
        "errors": len(errors),
        "first_errors": errors[:5],
        "latency_ms": summary(timed),
        "samples_ms": [round(value * 1000, 3) for value in timed],
        "client_cpu_s": usage.ru_utime + usage.ru_stime,
    }


def summary(sorted_seconds: list[float]) -> dict:
    if not sorted_seconds:
        return {}

    def at(fraction: float) -> float:
        # Nearest rank: the smallest value with at least `fraction` of the samples at or below it.
        rank = max(1, -(-int(fraction * 1000) * len(sorted_seconds) // 1000))
        return sorted_seconds[min(rank, len(sorted_seconds)) - 1] * 1000

    return {
        "p50": at(0.50),
        "p90": at(0.90),
        "p99": at(0.99),
        "max": sorted_seconds[-1] * 1000,
        "mean": sum(sorted_seconds) / len(sorted_seconds) * 1000,
    }


if __name__ == "__main__":
    result = run(json.load(sys.stdin))
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
