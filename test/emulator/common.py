"""Shared plumbing for the emulator: the request context, the response object,
ids, timestamps, JSON encoding and the Graph error body.

Route handlers take a Request and return a Response; only graph_emulator.py
touches sockets.
"""

import datetime
import json
import threading
import urllib.parse
import uuid
import weakref

# Content types.  Graph answers JSON with OData metadata parameters; Entra and
# the control API answer plain JSON.
GRAPH_JSON = "application/json; odata.metadata=minimal"
PLAIN_JSON = "application/json; charset=utf-8"

TICKS_PER_SECOND = 10_000_000          # .NET ticks: 100 ns, 7 fractional digits
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def new_guid():
    """A fresh random GUID string (request-id, trace ids, ...)."""
    return str(uuid.uuid4())


def is_guid(text):
    """True when text parses as a GUID."""
    try:
        uuid.UUID(str(text))
        return True
    except ValueError:
        return False


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def graph_error_date():
    """innerError.date as Graph writes it: seconds precision, no zone suffix."""
    return utcnow().strftime("%Y-%m-%dT%H:%M:%S")


def format_ticks(ticks, digits=7):
    """Format ticks since the Unix epoch as ISO 8601 UTC with `digits`
    fractional digits (7 = .NET precision).  digits=None trims trailing zeros
    the way Graph sometimes does (".1Z"), dropping the dot when nothing is left."""
    seconds, frac = divmod(ticks, TICKS_PER_SECOND)
    dt = EPOCH + datetime.timedelta(seconds=seconds)
    text = dt.strftime("%Y-%m-%dT%H:%M:%S")
    frac_text = "%07d" % frac
    if digits is None:
        frac_text = frac_text.rstrip("0")
    else:
        frac_text = frac_text[:digits]
    return text + ("." + frac_text if frac_text else "") + "Z"


def dump_json(obj):
    """Compact UTF-8 JSON, non-ASCII left raw, as Graph sends it."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class Request:
    """Everything a handler may need about one HTTP request.

    path is percent-decoded and has no query; query_pairs keeps every decoded
    (name, value) pair in order; params holds the route's regex groups."""

    def __init__(self, method, raw_target, headers, body, conn_id, state):
        self.method = method
        self.raw_target = raw_target
        self.headers = headers            # lower-cased name -> value
        self.body = body                  # bytes
        self.conn_id = conn_id
        self.state = state
        self.params = {}
        self.area = None                  # routes.Area name, set by the dispatcher
        self.token = None                 # auth.TokenInfo once the bearer checks out
        self.request_id = new_guid()
        self.client_request_id = headers.get("client-request-id") or new_guid()
        self.path, self.query_pairs = split_target(raw_target)

    def header(self, name, default=None):
        return self.headers.get(name.lower(), default)

    @property
    def base_url(self):
        """Scheme and authority the client used, for absolute links."""
        host = self.header("host") or self.state.listen_authority
        return "%s://%s" % (self.state.scheme, host)

    @property
    def absolute_url(self):
        return self.base_url + self.raw_target

    def query_dict(self):
        """Decoded query as {name: value} (a list when a name repeats)."""
        out = {}
        for name, value in self.query_pairs:
            if name in out:
                if not isinstance(out[name], list):
                    out[name] = [out[name]]
                out[name].append(value)
            else:
                out[name] = value
        return out

    def body_text(self):
        return self.body.decode("utf-8", "replace")

    def form(self):
        """The body as decoded form fields, first value wins."""
        out = {}
        for name, value in urllib.parse.parse_qsl(self.body_text(), keep_blank_values=True):
            out.setdefault(name, value)
        return out

    def json(self):
        """The body parsed as JSON; raises ValueError when it is not."""
        if not self.body:
            return None
        return json.loads(self.body_text())


def split_target(raw_target):
    """Split a request target into (decoded path, decoded query pairs).

    Accepts origin-form and absolute-form targets.  Percent escapes are decoded
    as UTF-8 ('%24top' == '$top'), '+' in the query means space."""
    target = raw_target
    if target.lower().startswith(("http://", "https://")):
        parts = urllib.parse.urlsplit(target)
        target = parts.path + ("?" + parts.query if parts.query else "")
    path_part, _, query_part = target.partition("?")
    path = urllib.parse.unquote(path_part, errors="replace")
    pairs = urllib.parse.parse_qsl(query_part, keep_blank_values=True, errors="replace")
    return path or "/", pairs


class Response:
    """What a handler returns.  Either obj (serialised as JSON) or body (raw
    bytes/str).  action tells the server to misbehave on the wire:
      None        normal response
      "truncate"  send full Content-Length, half the body, then close
      "reset"     send headers and part of the body, then RST the connection
      "drop"      send nothing at all and close the connection"""

    def __init__(self, status=200, obj=None, body=None, content_type=None,
                 headers=None, action=None):
        self.status = status
        self.obj = obj
        self.body = body
        self.content_type = content_type
        self.headers = list(headers or [])
        self.action = action

    def payload(self):
        if self.body is not None:
            return self.body.encode("utf-8") if isinstance(self.body, str) else self.body
        if self.obj is None:
            return b""
        return dump_json(self.obj)


def json_response(obj, status=200, headers=None):
    """A JSON response whose content type the area decides (Graph or plain)."""
    return Response(status=status, obj=obj, headers=headers)


def graph_error(req, status, code, message, headers=None):
    """Graph's OData v4 error body, innerError carrying the ids of this request."""
    body = {"error": {
        "code": code,
        "message": message,
        "innerError": {
            "date": graph_error_date(),
            "request-id": req.request_id,
            "client-request-id": req.client_request_id,
        },
    }}
    return Response(status=status, obj=body, headers=headers)


class PerState:
    """One bookkeeping object per State (or tenant view), made by factory()
    on first use and dropped with its State.  With synced=True, get() also
    calls obj.sync(state) (to follow resets and config changes)."""

    def __init__(self, factory, synced=False):
        self._factory = factory
        self._synced = synced
        self._objects = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def get(self, state):
        with self._lock:
            obj = self._objects.get(state)
            if obj is None:
                obj = self._objects[state] = self._factory()
        if self._synced:
            obj.sync(state)
        return obj
