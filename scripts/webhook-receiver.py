#!/usr/bin/env python3
"""A receiver for Shequn's outbound webhooks that verifies every request with
the Standard Webhooks reference library (`pip install standardwebhooks`).

    SHEQUN_WEBHOOK_SECRET=whsec_... python3 scripts/webhook-receiver.py [port]

Register http://127.0.0.1:<port>/ as an endpoint (with
webhooks.allow_private_destinations = true for a local server) and send
`POST /v1/webhook-endpoints/{id}/test`: each request prints VERIFIED or
REJECTED. Answers 200 for a valid request, 400 otherwise.
"""
import http.server
import os
import sys

from standardwebhooks.webhooks import Webhook

hook = Webhook(os.environ["SHEQUN_WEBHOOK_SECRET"])


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            payload = hook.verify(body, headers)
        except Exception as e:  # the library raises on any mismatch
            print("REJECTED", headers.get("webhook-id"), repr(e), flush=True)
            self.send_response(400)
        else:
            print("VERIFIED", headers["webhook-id"], payload["type"], flush=True)
            self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


port = int(sys.argv[1]) if len(sys.argv) > 1 else 18765
http.server.HTTPServer(("127.0.0.1", port), Handler).serve_forever()
