"""The floor for the benchmark: a bare WSGI app that answers without doing any work.

- Every request gets the GIF: the same 43 bytes and headers as Mailtick's pixel
  (backend/tracking.py), with no framework, no routing and no recording, so the gap between
  the two is what Mailtick's pixel path costs. The bytes are repeated here rather than
  imported so this app stays standalone; bench/run.py compares both live responses before it
  measures and says so if they differ.
- `POST /api/v1/messages/status` reads the body and answers with the bytes of the file named by
  the BARE_STATUS_ANSWER environment variable: a real answer of Mailtick's, which bench/run.py
  saves there before the status phase. So the gap there is what Mailtick's status call costs
  beyond reading a request and writing an answer of that size.
"""

import base64
import os

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==")

HEADERS = [
    ("Content-Type", "image/gif"),
    ("Content-Length", str(len(PIXEL))),
    ("Cache-Control", "no-store, no-cache, must-revalidate, private, max-age=0"),
    ("Pragma", "no-cache"),
    ("Expires", "Thu, 01 Jan 1970 00:00:00 GMT"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
]


STATUS_PATH = "/api/v1/messages/status"
_status_answer: list[bytes] = []  # read on the first status call, once the file exists


def app(environ, start_response):
    if environ["PATH_INFO"] == STATUS_PATH and environ["REQUEST_METHOD"] == "POST":
        environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        if not _status_answer:
            with open(os.environ["BARE_STATUS_ANSWER"], "rb") as answer:
                _status_answer.append(answer.read())
        body = _status_answer[0]
        start_response(
            "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        )
        return [body]
    start_response("200 OK", HEADERS)
    return [b"" if environ["REQUEST_METHOD"] == "HEAD" else PIXEL]
