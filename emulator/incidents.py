"""Graph security incidents: GET /{v1.0|beta}/security/incidents[/{id}].

The list pages through State's incidents (newest first) with $top (max 50,
default 50), $skip, $count and an opaque $skiptoken in @odata.nextLink.
Later: $filter / $orderby / $expand (see odata.py), PATCH, comments.
"""

from common import graph_error, json_response
from fixtures import strip_private
from odata import ODataError, parse_options, next_link

MAX_TOP = 50
DEFAULT_TOP = 50
LIST_OPTIONS = {"$top", "$skip", "$count", "$skiptoken"}
GET_OPTIONS = set()


def odata_error(req, err):
    """400 in the shape Graph uses for query validation errors."""
    return graph_error(req, 400, err.code, err.message)


def _context_url(req, suffix):
    return "%s/%s/$metadata#%s" % (req.base_url, req.params["version"], suffix)


def list_incidents(req):
    """GET .../security/incidents: one page of incidents."""
    try:
        opts = parse_options(req.query_pairs, LIST_OPTIONS, max_top=MAX_TOP)
    except ODataError as err:
        return odata_error(req, err)

    rows = req.state.incidents_snapshot()
    total = len(rows)
    top = DEFAULT_TOP if opts.top is None else opts.top
    offset = opts.offset()
    page = rows[offset:offset + top]

    body = {"@odata.context": _context_url(req, "security/incidents")}
    if opts.count:
        body["@odata.count"] = total
    body["value"] = [strip_private(inc) for inc in page]
    if top > 0 and offset + top < total:
        body["@odata.nextLink"] = next_link(req.base_url, req.path, opts, top, offset + top)
    return json_response(body)


def get_incident(req):
    """GET .../security/incidents/{id}: one incident or 404."""
    try:
        parse_options(req.query_pairs, GET_OPTIONS)
    except ODataError as err:
        return odata_error(req, err)
    incident = req.state.find_incident(req.params["id"])
    if incident is None:
        return graph_error(req, 404, "NotFound",
                           "Incident with id '%s' was not found." % req.params["id"])
    body = {"@odata.context": _context_url(req, "security/incidents/$entity")}
    body.update(strip_private(incident))
    return json_response(body)
