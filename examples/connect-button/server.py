#!/usr/bin/env python3
"""A minimal app that embeds labgate's connect button (Python standard library only).

    LABGATE_URL=http://127.0.0.1:8080 LABGATE_API_KEY=lgk_… python3 server.py

Serves index.html on http://localhost:3000 (PORT to change) and one backend endpoint,
POST /api/connect-session, that asks labgate for a connect session with the admin API key. The key
stays on this server; the page only ever sees the session's single-use token.
"""

import json
import os
import sys
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

LABGATE_URL = os.environ.get("LABGATE_URL", "").rstrip("/")
LABGATE_API_KEY = os.environ.get("LABGATE_API_KEY", "")
PORT = int(os.environ.get("PORT", "3000"))
PAGE = (Path(__file__).parent / "index.html").read_text(encoding="utf-8")

# Who is signed in to this app. labgate files the connection under these labels, so the app can
# ask for the GitLab token by them later: GET /api/v1/credentials/gitlab?tenantId=…&userId=…
APP_TENANT_ID = "example-org"
APP_USER_ID = "example-user"


def create_connect_session(origin):
    """POST /api/v1/connect-sessions: answers labgate's JSON (token, expiresAt, connectUrl)."""
    body = json.dumps({
        "allowedOrigin": origin,
        "scopes": ["read_api", "read_user"],
        "tenantId": APP_TENANT_ID,
        "userId": APP_USER_ID,
        "description": "Connected from the connect-button example",
    }).encode()
    request = urllib.request.Request(
        LABGATE_URL + "/api/v1/connect-sessions",
        data=body,
        method="POST",
        headers={"Authorization": "Bearer " + LABGATE_API_KEY, "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)
    except OSError as error:
        return 502, {"message": "labgate is unreachable: %s" % error}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path not in ("/", "/index.html"):
            self.send_json(404, {"message": "not found"})
            return
        page = PAGE.replace("{{LABGATE_URL}}", LABGATE_URL).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)

    def do_POST(self):
        if self.path != "/api/connect-session":
            self.send_json(404, {"message": "not found"})
            return
        # A real app knows its own origin from its configuration; the demo takes the address the
        # browser used, so both localhost and 127.0.0.1 work.
        origin = "http://" + self.headers.get("Host", "localhost:%d" % PORT)
        status, answer = create_connect_session(origin)
        if status != 201:
            self.send_json(status, {"message": answer.get("message", "labgate refused the session")})
            return
        # Only the token goes to the page: it opens the popup once, within 30 minutes.
        self.send_json(200, {"token": answer["token"]})

    def send_json(self, status, payload):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):
        sys.stderr.write("example: %s\n" % (format % args))


def main():
    if not LABGATE_URL or not LABGATE_API_KEY:
        sys.exit("set LABGATE_URL (e.g. http://127.0.0.1:8080) and LABGATE_API_KEY (an admin key)")
    server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
    print("example app on http://localhost:%d (labgate at %s)" % (PORT, LABGATE_URL), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
