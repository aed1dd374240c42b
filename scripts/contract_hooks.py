"""Schemathesis hooks for scripts/contract (loaded through SCHEMATHESIS_HOOKS).

`POST /v1/imports/events` reads NDJSON; schemathesis knows no serializer
for it, so generated bodies go on the wire as their text (a list as one
JSON value per line).
"""

import json
import re
import uuid

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


# An `Idempotency-Key` is a promise about one request: the same key with
# another request answers 422 `idempotency_key_reused` (documented). The
# fuzzer draws keys from a small space and reuses them across different
# requests, so every well-formed key it draws is made unique; malformed ones
# go out as drawn, to be refused.
_KEY = re.compile(r"[!-~]{1,255}")


@schemathesis.hook
def before_call(ctx, case, kwargs):
    headers = case.headers or {}
    for name in list(headers):
        if name.lower() == "idempotency-key":
            value = headers[name]
            if isinstance(value, str) and _KEY.fullmatch(value):
                headers[name] = (value + "." + uuid.uuid4().hex)[-255:]
