"""Fault injection: armed through /_emulator/faults, applied to matching
requests by the dispatcher.

A fault matches a request when `match` is a substring of the decoded path,
`query` (if given) a substring of the decoded query string ("$skip=100&$top=30")
`body_contains` (if given) a substring of the request body (a hunting
query's KQL: "summarize"), `tenant` (if given) equals the tenant of the request's
token (case-insensitive: one partition of many tenants fails), and `method` (if given) equals the request method.  `query` picks one page out
of several requested at the same time, where arrival order is not fixed.  Every armed fault sees every
matching request: its first `skip` matches pass untouched, then it fires on
the next `times` matches (-1 = forever).  When several faults are ready for
the same request the earliest armed one fires, so arming [429, 503] yields a
429 and then a 503 on consecutive requests.

Two families of kinds:
  PRE kinds replace the normal answer (the handler never runs);
  POST kinds take the normal Response and damage it.
"""

import threading

from common import Response, graph_error, dump_json

PRE_KINDS = ("status", "delay", "hang", "malformed", "html", "empty", "redirect")
POST_KINDS = ("wrong_type", "loop", "huge", "truncate", "reset", "drop_rows")
KINDS = PRE_KINDS + POST_KINDS

# Graph error code used for a status fault when none is given.
GRAPH_CODES = {
    400: ("BadRequest", "Invalid request."),
    401: ("InvalidAuthenticationToken", "Access token has expired or is not yet valid."),
    403: ("Forbidden", "Missing application roles. API required roles: SecurityIncident.Read.All."),
    404: ("NotFound", "The requested resource was not found."),
    409: ("Conflict", "Conflict."),
    429: ("TooManyRequests", "Too many requests."),
    500: ("UnknownError", ""),
    502: ("UnknownError", ""),
    503: ("ServiceUnavailable", "The service is temporarily unavailable. Please retry later."),
    504: ("UnknownError", ""),
}

# Entra (error, AADSTS, text) used for a status fault on the token endpoint.
ENTRA_CODES = {
    400: ("invalid_request", 90014, "The required field is missing from the credential."),
    401: ("invalid_client", 7000215, "Invalid client secret provided."),
    403: ("invalid_request", 53003, "Access has been blocked by Conditional Access policies."),
    429: ("temporarily_unavailable", 90055, "There are too many incoming requests. Please try again later."),
}
ENTRA_DEFAULT = ("temporarily_unavailable", 90033, "A transient error has occurred. Please try again.")

DEFAULT_MALFORMED = '{"value":[{"id":"1",}'
DEFAULT_HTML = ("<!DOCTYPE html>\n<html><head><title>502 - Web server received an invalid response"
                "</title></head>\n<body><h1>Server Error</h1><p>502 - Web server received an "
                "invalid response while acting as a gateway or proxy server.</p></body></html>\n")
DEFAULT_HUGE_BYTES = 2_000_000
DEFAULT_HANG_SECONDS = 600


class Fault:
    """One armed fault and its counters."""

    def __init__(self, fault_id, spec):
        self.id = fault_id
        self.spec = spec
        self.match = spec.get("match", "")
        self.query = spec.get("query")
        self.body_contains = spec.get("body_contains")
        self.method = spec.get("method")
        self.tenant = spec.get("tenant")
        self.skip = spec.get("skip", 0)
        self.times = spec.get("times", 1)
        self.kind = spec["kind"]
        self.seen = 0       # matching requests observed
        self.applied = 0    # requests it fired on

    def matches(self, method, path, query="", body="", tenant=None):
        if self.method and self.method.upper() != method.upper():
            return False
        if self.tenant is not None and (tenant or "").lower() != self.tenant.lower():
            return False
        if self.query is not None and self.query not in query:
            return False
        if self.body_contains is not None and self.body_contains not in body:
            return False
        return self.match in path

    def exhausted(self):
        return self.times >= 0 and self.applied >= self.times

    def describe(self):
        out = dict(self.spec)
        out.update({"id": self.id, "seen": self.seen, "applied": self.applied,
                    "active": not self.exhausted()})
        return out


def validate(spec):
    """Check a fault spec from the control API; raises ValueError."""
    if not isinstance(spec, dict):
        raise ValueError("a fault must be a JSON object")
    kind = spec.get("kind")
    if kind not in KINDS:
        raise ValueError("unknown fault kind %r; expected one of %s" % (kind, ", ".join(KINDS)))
    if not isinstance(spec.get("match", ""), str):
        raise ValueError("'match' must be a string")
    if spec.get("query") is not None and not isinstance(spec["query"], str):
        raise ValueError("'query' must be a string")
    if spec.get("body_contains") is not None and not isinstance(spec["body_contains"], str):
        raise ValueError("'body_contains' must be a string")
    if spec.get("method") is not None and not isinstance(spec["method"], str):
        raise ValueError("'method' must be a string")
    if spec.get("tenant") is not None and not isinstance(spec["tenant"], str):
        raise ValueError("'tenant' must be a string")
    for key in ("skip", "times"):
        if key in spec and (not isinstance(spec[key], int) or isinstance(spec[key], bool)
                            or spec[key] < (-1 if key == "times" else 0)):
            raise ValueError("'%s' must be a non-negative integer (times may be -1)" % key)
    for key in ("seconds", "retry_after"):
        if key in spec and (not isinstance(spec[key], (int, float)) or spec[key] < 0):
            raise ValueError("'%s' must be a non-negative number" % key)
    if "status" in spec and (not isinstance(spec["status"], int) or not 100 <= spec["status"] <= 599):
        raise ValueError("'status' must be an HTTP status code")
    if kind == "status" and "status" not in spec:
        raise ValueError("a 'status' fault needs a 'status'")
    if kind == "redirect" and not (isinstance(spec.get("location"), str) and spec["location"]):
        raise ValueError("a 'redirect' fault needs a 'location' string")
    if kind == "redirect" and "status" in spec and not 300 <= spec["status"] <= 399:
        raise ValueError("a 'redirect' fault's 'status' must be 3xx")
    if "rows" in spec and (not isinstance(spec["rows"], int) or spec["rows"] < 0):
        raise ValueError("'rows' must be a non-negative integer")
    if "bytes" in spec and (not isinstance(spec["bytes"], int) or spec["bytes"] < 0):
        raise ValueError("'bytes' must be a non-negative integer")
    if "headers" in spec and not isinstance(spec["headers"], dict):
        raise ValueError("'headers' must be an object")
    return spec


class FaultBook:
    """The armed faults, in arming order, behind one lock."""

    def __init__(self):
        self._lock = threading.Lock()
        self._faults = []
        self._next_id = 1

    def arm(self, specs):
        with self._lock:
            armed = []
            for spec in specs:
                fault = Fault(self._next_id, spec)
                self._next_id += 1
                self._faults.append(fault)
                armed.append(fault.describe())
            return armed

    def clear(self):
        with self._lock:
            self._faults = []

    def describe(self):
        with self._lock:
            return [f.describe() for f in self._faults]

    def pick(self, method, path, query="", body="", tenant=None):
        """Count this request against every matching fault; return the fault
        that fires on it, or None.  query is the decoded query string, body
        the request body's text, tenant the token's tenant (None: no token)."""
        chosen = None
        with self._lock:
            for fault in self._faults:
                if fault.exhausted() or not fault.matches(method, path, query, body, tenant):
                    continue
                fault.seen += 1
                if fault.seen <= fault.skip:
                    continue
                if chosen is None:
                    chosen = fault
                    fault.applied += 1
        return chosen


# --------------------------------------------------------------------------
# Applying faults

def _extra_headers(fault):
    return [(str(k), str(v)) for k, v in fault.spec.get("headers", {}).items()]


def apply_pre(fault, req):
    """Run a PRE fault.  Returns the Response to send, or None to go on with
    normal handling (after a delay)."""
    spec = fault.spec
    kind = fault.kind
    headers = _extra_headers(fault)
    if kind == "delay":
        req.state.sleep(spec.get("seconds", 1))
        return None
    if kind == "hang":
        req.state.sleep(spec.get("seconds", DEFAULT_HANG_SECONDS))
        return Response(status=None, action="drop")
    if kind == "status":
        return _status_response(fault, req, headers)
    if kind == "malformed":
        return Response(status=spec.get("status", 200), body=spec.get("body", DEFAULT_MALFORMED),
                        headers=headers)
    if kind == "html":
        return Response(status=spec.get("status", 200), body=spec.get("body", DEFAULT_HTML),
                        content_type="text/html; charset=utf-8", headers=headers)
    if kind == "empty":
        return Response(status=spec.get("status", 200), body=b"", headers=headers)
    if kind == "redirect":
        return Response(status=spec.get("status", 302), body=b"",
                        headers=[("Location", spec["location"])] + headers)
    raise AssertionError("not a PRE kind: %s" % kind)


def _status_response(fault, req, headers):
    spec = fault.spec
    status = spec["status"]
    if spec.get("retry_after") is not None:
        retry = spec["retry_after"]
        headers.append(("Retry-After", str(int(retry) if float(retry).is_integer() else retry)))
    if "body" in spec:
        return Response(status=status, body=spec["body"], headers=headers)
    if req.area == "entra":
        from auth import entra_error   # local import: auth is the Entra module
        error, aadsts, text = ENTRA_CODES.get(status, ENTRA_DEFAULT)
        resp = entra_error(req, status, spec.get("code", error), spec.get("aadsts", aadsts),
                           spec.get("message", text))
        resp.headers.extend(headers)
        return resp
    code, message = GRAPH_CODES.get(status, ("UnknownError", ""))
    return graph_error(req, status, spec.get("code", code), spec.get("message", message),
                       headers=headers)


def apply_post(fault, req, resp):
    """Run a POST fault on the normal response."""
    kind = fault.kind
    resp.headers.extend(_extra_headers(fault))
    if kind in ("truncate", "reset"):
        resp.action = kind
        return resp
    if not isinstance(resp.obj, dict):
        return resp
    if kind == "wrong_type":
        _wrong_type(resp.obj)
    elif kind == "loop":
        resp.obj.pop("@odata.nextLink", None)
        resp.obj["@odata.nextLink"] = req.absolute_url
    elif kind == "huge":
        _pad(resp, fault.spec.get("bytes", DEFAULT_HUGE_BYTES))
    elif kind == "drop_rows" and isinstance(resp.obj.get("value"), list):
        # what a page looks like when rows left the collection after @odata.count
        n = fault.spec.get("rows", 1)
        del resp.obj["value"][max(len(resp.obj["value"]) - n, 0):]
    return resp


def _wrong_type(obj):
    """Break the types of the first entity in a page (or the entity itself)."""
    target = obj
    if isinstance(obj.get("value"), list):
        if not obj["value"]:
            return
        target = obj["value"][0]
    if "createdDateTime" in target or "customTags" in target:
        target["createdDateTime"] = 1767225600
        target["customTags"] = "not-an-array"
    elif "access_token" in target:
        target["access_token"] = 12345
        target["expires_in"] = "3599"


def _pad(resp, size):
    """Grow the JSON body to exactly `size` bytes (if it is smaller) by
    lengthening the first entity's description, else a padding member."""
    obj = resp.obj
    target, key = obj, "@emulator.padding"
    if isinstance(obj.get("value"), list) and obj["value"] and isinstance(obj["value"][0], dict):
        target, key = obj["value"][0], "description"
    original = target.get(key) or ""
    target[key] = original
    missing = size - len(dump_json(obj))
    if missing > 0:
        target[key] = original + "x" * missing
