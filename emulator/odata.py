"""OData system query options: parsing, validation and paging links.

parse_options() walks the decoded query pairs and hands each `$option` to its
parser in OPTION_PARSERS; a route passes the set of options it allows.
Adding $filter / $orderby / $expand / $select later means writing a parser,
registering it here, and allowing it on the route.  Names without `$` are
custom query options and are ignored, as OData allows.

Errors raise ODataError, which routes turn into Graph's observed shape for
query validation failures: HTTP 400, code "" and a message that starts with
"The query specified in the URI is not valid."
"""

import base64
import binascii
import json
import urllib.parse

INVALID_QUERY = "The query specified in the URI is not valid. "


class ODataError(Exception):
    """A query option the service would reject with 400."""

    def __init__(self, message, code=""):
        super().__init__(message)
        self.message = message
        self.code = code


class QueryOptions:
    """Parsed system query options; None means "not given"."""

    def __init__(self):
        self.top = None
        self.skip = None
        self.count = False
        self.skiptoken = None   # decoded offset
        self.raw = {}           # canonical option name -> raw text, for nextLinks

    def offset(self):
        """Where the page starts: the skiptoken's offset wins over $skip."""
        if self.skiptoken is not None:
            return self.skiptoken
        return self.skip or 0


def _non_negative_int(name, text):
    try:
        if not text.strip().isdigit():
            raise ValueError
        return int(text)
    except ValueError:
        raise ODataError(INVALID_QUERY + "Invalid value '%s' for %s query option found. The %s "
                         "query option requires a non-negative integer value." % (text, name, name))


def _parse_top(opts, text, limits):
    value = _non_negative_int("$top", text)
    max_top = limits.get("max_top")
    if max_top is not None and value > max_top:
        raise ODataError(INVALID_QUERY + "The limit of '%d' for Top query has been exceeded. "
                         "The value from the incoming request is '%d'." % (max_top, value))
    opts.top = value


def _parse_skip(opts, text, limits):
    opts.skip = _non_negative_int("$skip", text)


def _parse_count(opts, text, limits):
    lowered = text.strip().lower()
    if lowered not in ("true", "false"):
        raise ODataError(INVALID_QUERY + "'%s' is not a valid count option." % text)
    opts.count = lowered == "true"


def _parse_skiptoken(opts, text, limits):
    opts.skiptoken = decode_skiptoken(text)


# Canonical option name -> parser(opts, raw_text, limits).
OPTION_PARSERS = {
    "$top": _parse_top,
    "$skip": _parse_skip,
    "$count": _parse_count,
    "$skiptoken": _parse_skiptoken,
}


def parse_options(query_pairs, allowed, **limits):
    """Parse the system query options in query_pairs.

    allowed: canonical names this route accepts.  Option names are matched
    case-insensitively; a repeated option, an unknown or unsupported option
    all raise ODataError."""
    opts = QueryOptions()
    for name, value in query_pairs:
        if not name.startswith("$"):
            continue
        canonical = name.lower()
        if canonical in opts.raw:
            raise ODataError(INVALID_QUERY + "Query option '%s' was specified more than once, but "
                             "it must be specified at most once." % canonical)
        if canonical not in OPTION_PARSERS:
            raise ODataError(INVALID_QUERY + "The query parameter '%s' is not supported." % name)
        if canonical not in allowed:
            raise ODataError(INVALID_QUERY + "Query option '%s' is not allowed. To allow it, set "
                             "the 'AllowedQueryOptions' property on EnableQueryAttribute or "
                             "QueryValidationSettings." % canonical)
        opts.raw[canonical] = value
        OPTION_PARSERS[canonical](opts, value, limits)
    return opts


# --------------------------------------------------------------------------
# Paging

_SKIPTOKEN_PREFIX = "emu1"


def encode_skiptoken(offset):
    """An opaque continuation token.  Clients must not parse it."""
    raw = json.dumps({"v": 1, "o": offset}, separators=(",", ":")).encode("ascii")
    return _SKIPTOKEN_PREFIX + base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_skiptoken(token):
    """The offset inside a token from encode_skiptoken, else ODataError."""
    try:
        if not token.startswith(_SKIPTOKEN_PREFIX):
            raise ValueError
        body = token[len(_SKIPTOKEN_PREFIX):]
        data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        offset = data["o"]
        if not isinstance(offset, int) or offset < 0:
            raise ValueError
        return offset
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise ODataError(INVALID_QUERY + "The skip token '%s' is not valid." % token)


# Options a nextLink carries over from the request (besides $top/$skiptoken);
# $filter, $orderby, $expand, $select join this list when implemented.
CARRIED_OPTIONS = ("$count",)


def next_link(base_url, path, opts, top, next_offset):
    """Absolute nextLink: the same resource with $top and a fresh $skiptoken,
    plus the options listed in CARRIED_OPTIONS.  '$' stays literal."""
    pairs = [("$top", str(top))]
    for name in CARRIED_OPTIONS:
        if name in opts.raw:
            pairs.append((name, opts.raw[name]))
    pairs.append(("$skiptoken", encode_skiptoken(next_offset)))
    query = "&".join("%s=%s" % (name, urllib.parse.quote(value, safe="-._~'()*,:@/"))
                     for name, value in pairs)
    return "%s%s?%s" % (base_url, urllib.parse.quote(path, safe="/$()'.,:@"), query)
