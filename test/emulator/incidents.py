"""Graph security incidents: GET /{v1.0|beta}/security/incidents[/{id}].

The list serves State's incidents (newest first by default) with $filter,
$orderby, $top (max 50, default 50), $skip, $count, $select, $expand=alerts
and an opaque $skiptoken in @odata.nextLink (see odata.py for the rules).
GET by id takes $select and $expand=alerts.
Later: (PATCH and comments: actions.py).
"""

from common import graph_error, json_response
from odata import (DATETIME, INT32, NS, STRING, EntitySchema, ODataError, cached_list_page,
                   entity_body, list_page, parse_options, select_rows, wire_row)

MAX_TOP = 50
DEFAULT_TOP = 50
LIST_OPTIONS = {"$top", "$skip", "$count", "$skiptoken", "$filter", "$orderby", "$select", "$expand"}
GET_OPTIONS = {"$select", "$expand"}
ENTITY_SET = "security/incidents"


def _numeric_id_key(value):
    """Incident ids are numeric strings: order them as numbers."""
    return (len(value), value) if value.isdigit() else (float("inf"), value)


SCHEMA = EntitySchema(
    NS + "incident",
    properties={
        "id": STRING,
        "tenantId": STRING,
        "status": NS + "incidentStatus",
        "incidentWebUrl": STRING,
        "redirectIncidentId": STRING,
        "displayName": STRING,
        "createdDateTime": DATETIME,
        "lastUpdateDateTime": DATETIME,
        "assignedTo": STRING,
        "classification": NS + "alertClassification",
        "determination": NS + "alertDetermination",
        "severity": NS + "alertSeverity",
        "customTags": "Collection(Edm.String)",
        "systemTags": "Collection(Edm.String)",
        "description": STRING,
        "lastModifiedBy": STRING,
        "resolvingComment": STRING,
        "summary": STRING,
        "priorityScore": INT32,
        "comments": "Collection(%salertComment)" % NS,
    },
    filterable=("assignedTo", "classification", "createdDateTime", "determination",
                "lastUpdateDateTime", "severity", "status"),
    orderable=("createdDateTime", "lastUpdateDateTime"),
    tick_keys={"createdDateTime": "_created_ticks", "lastUpdateDateTime": "_updated_ticks"},
    navigation={"alerts": NS + "alert"},
    id_sort_key=_numeric_id_key,
)


def odata_error(req, err):
    """400 in the shape Graph uses for query validation errors."""
    return graph_error(req, 400, err.code, err.message)


def _expanders(req):
    """$expand=alerts: an incident's alerts_v2 objects, oldest first."""
    def alerts(row):
        return [wire_row(alert) for alert in req.state.alerts_of_incident(row["id"])]
    return {"alerts": alerts}


def list_incidents(req):
    """GET .../security/incidents: one page of incidents (its body cached
    for the data version, see odata.cached_list_page)."""
    return cached_list_page(req, ENTITY_SET, lambda: _list_incidents(req))


def _list_incidents(req):
    try:
        opts = parse_options(req.query_pairs, LIST_OPTIONS, max_top=MAX_TOP, schema=SCHEMA)
    except ODataError as err:
        return odata_error(req, err)
    rows = select_rows(req.state, "incidents", SCHEMA, opts, req.state.incidents_snapshot)
    return list_page(req, ENTITY_SET, SCHEMA, opts, rows, DEFAULT_TOP, _expanders(req))


def get_incident(req):
    """GET .../security/incidents/{id}: one incident or 404."""
    try:
        opts = parse_options(req.query_pairs, GET_OPTIONS, schema=SCHEMA)
    except ODataError as err:
        return odata_error(req, err)
    incident = req.state.find_incident(req.params["id"])
    if incident is None:
        return graph_error(req, 404, "NotFound",
                           "Incident with id '%s' was not found." % req.params["id"])
    return json_response(entity_body(req, ENTITY_SET, incident, opts, _expanders(req)))
