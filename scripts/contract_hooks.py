"""Schemathesis hooks for scripts/contract (loaded through SCHEMATHESIS_HOOKS).

`POST /v1/imports/events` reads NDJSON; schemathesis knows no serializer
for it, so generated bodies go on the wire as their text (a list as one
JSON value per line).
"""

import datetime
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


def _is_positive(case):
    meta = getattr(case, "meta", None)
    generation = getattr(meta, "generation", None)
    mode = getattr(generation, "mode", None)
    return bool(getattr(mode, "is_positive", False))


# An `Idempotency-Key` is a promise about one request: the same key with
# another request answers 422 `idempotency_key_reused` (documented). The
# fuzzer draws keys from a small space and reuses them across different
# requests, so every well-formed key of a valid request is made unique;
# malformed ones go out as drawn, to be refused.
_KEY = re.compile(r"[!-~]{1,255}")


@schemathesis.hook("before_call")
def unique_idempotency_keys(ctx, case, kwargs):
    # Only requests meant to be valid: schemathesis revalidates an edited
    # case, and an edit to a negative one (say, one missing `Authorization`)
    # would turn it positive and send the header it meant to leave out.
    if not _is_positive(case):
        return
    headers = case.headers or {}
    for name in list(headers):
        if name.lower() == "idempotency-key":
            value = headers[name]
            if isinstance(value, str) and _KEY.fullmatch(value):
                headers[name] = (value + "." + uuid.uuid4().hex)[-255:]


# Rules JSON Schema cannot state, because they compare two fields. Each is
# written in the operation's own description in the document; here the
# fuzzer is taught them, for requests it means to be valid only (invalid
# ones go out as drawn, to be refused):
# - metrics and check-in stats: `from` is not after `to`, and at most 366
#   days before it;
# - campaigns, earning rules and mall items: `ends_at` is after `starts_at`;
# - the funnel: `steps` or `funnel`, not both;
# - a member does not invite themselves, and joins or leaves a group not
#   in the future;
# - SOP plans: `ends_on` is not before `starts_on`; quiet hours end where
#   they do not start;
# - coupon templates: a fixed validity ends after it starts; a quote names
#   its coupon by exactly one of `code` and `coupon_id`.
def _date(value):
    try:
        return datetime.date.fromisoformat(value)
    except (TypeError, ValueError):
        return None


def _instant(value):
    try:
        text = str(value)
        if len(text) > 10 and text[10] == "t":
            text = text[:10] + "T" + text[11:]
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except (TypeError, ValueError):
        return None


def _period(query):
    start, end = _date(query.get("from")), _date(query.get("to"))
    if start and not end:
        # `to` defaults to today (in the workspace's timezone, a day either
        # side of ours): a `from` after it, or more than 366 days before it,
        # needs a `to` of its own.
        today = datetime.date.today()
        if (today - start).days < 1 or (today - start).days > 364:
            end = min(start + datetime.timedelta(days=365), datetime.date(2999, 12, 31))
    if start and end:
        if start > end:
            start, end = end, start
        if (end - start).days > 365:
            start = end - datetime.timedelta(days=365)
        query["from"], query["to"] = start.isoformat(), end.isoformat()


def _campaign_period(body):
    start, end = _instant(body.get("starts_at")), _instant(body.get("ends_at"))
    if start and end and end <= start:
        # Both instants may not fit the other field's window: keep the start, move the end.
        body["ends_at"] = (start + datetime.timedelta(hours=1)).isoformat()


def _not_future(values, name):
    at = _instant(values.get(name))
    now = datetime.datetime.now(datetime.timezone.utc)
    if at and at.tzinfo and at > now:
        values[name] = (now - datetime.timedelta(minutes=1)).isoformat()


@schemathesis.hook("before_call")
def cross_field_rules(ctx, case, kwargs):
    if not _is_positive(case):
        return
    path = case.operation.path
    query = case.query if isinstance(case.query, dict) else None
    body = case.body if isinstance(case.body, dict) else None
    if (path.startswith("/v1/metrics/") or path.endswith("/check-ins/stats")) and query is not None:
        _period(query)
        if path == "/v1/metrics/funnel" and "steps" in query and "funnel" in query:
            del query["funnel"]
    if path.startswith(("/v1/campaigns", "/v1/points-rules", "/v1/mall/items")) and body is not None:
        _campaign_period(body)
    if path == "/v1/coupon-templates" and body is not None and isinstance(body.get("validity"), dict):
        _campaign_period(body["validity"])
    if path == "/v1/coupons/quote" and body is not None:
        if body.get("code") is not None and body.get("coupon_id") is not None:
            body.pop("code")
        elif body.get("code") is None and body.get("coupon_id") is None:
            body["coupon_id"] = str(uuid.uuid4())
    if path == "/v1/groups/{id}/members" and body is not None:
        if body.get("inviter_id") == body.get("member_id"):
            body.pop("inviter_id", None)
        _not_future(body, "joined_at")
    if path == "/v1/groups/{id}/members/{member_id}" and query is not None:
        _not_future(query, "left_at")
    if path.startswith("/v1/sop-plans") and body is not None:
        start, end = _date(body.get("starts_on")), _date(body.get("ends_on"))
        if start and end and end < start:
            body["starts_on"], body["ends_on"] = body["ends_on"], body["starts_on"]
        quiet = body.get("quiet_hours")
        if isinstance(quiet, dict) and quiet.get("start") == quiet.get("end") and isinstance(quiet.get("end"), str):
            hour = (int(quiet["end"][:2]) + 1) % 24
            quiet["end"] = "%02d%s" % (hour, quiet["end"][2:])
