"""The floor for the pixel benchmark: a bare WSGI app that answers every request with the GIF.

Same 43 bytes and same headers as Mailtick's pixel (backend/tracking.py), with no framework,
no routing and no recording, so the gap between the two is what Mailtick's pixel path costs.
The bytes are repeated here rather than imported so this app stays standalone; bench/run.py
compares both live responses before it measures and says so if they differ.
"""

import base64

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


def app(environ, start_response):
    start_response("200 OK", HEADERS)
    return [b"" if environ["REQUEST_METHOD"] == "HEAD" else PIXEL]
