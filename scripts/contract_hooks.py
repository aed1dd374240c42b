"""Schemathesis hooks for scripts/contract (loaded through SCHEMATHESIS_HOOKS).

`POST /v1/imports/events` reads NDJSON; schemathesis knows no serializer
for it, so generated bodies go on the wire as their text (a list as one
JSON value per line).
"""

import json

import schemathesis


@schemathesis.serializer("application/x-ndjson")
def ndjson(ctx, value):
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, list):
        return "".join(json.dumps(item) + "\n" for item in value).encode("utf-8")
    return (json.dumps(value) + "\n").encode("utf-8")
