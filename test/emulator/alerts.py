"""Graph security alerts: GET /{v1.0|beta}/security/alerts_v2[/{id}].

The list serves State's alerts (newest createdDateTime first, ties by id)
with $filter, $orderby, $top (max 1000, default 100), $skip, $count, $select
and an opaque $skiptoken in @odata.nextLink (see odata.py for the rules).
GET by id takes $select.  The alert type has no navigation properties, so
every $expand is rejected.
Later: (PATCH and comments: actions.py).
"""

from common import graph_error, json_response
from odata import (DATETIME, NS, STRING, EntitySchema, ODataError, cached_list_page, entity_body,
                   list_page, parse_options, select_rows)

MAX_TOP = 1000
DEFAULT_TOP = 100
LIST_OPTIONS = {"$top", "$skip", "$count", "$skiptoken", "$filter", "$orderby", "$select", "$expand"}
GET_OPTIONS = {"$select", "$expand"}
ENTITY_SET = "security/alerts_v2"

SCHEMA = EntitySchema(
    NS + "alert",
    properties={
        "id": STRING,
        "providerAlertId": STRING,
        "incidentId": STRING,
        "status": NS + "alertStatus",
        "severity": NS + "alertSeverity",
        "classification": NS + "alertClassification",
        "determination": NS + "alertDetermination",
        "serviceSource": NS + "serviceSource",
        "detectionSource": NS + "detectionSource",
        "productName": STRING,
        "detectorId": STRING,
        "tenantId": STRING,
        "title": STRING,
        "description": STRING,
        "recommendedActions": STRING,
        "category": STRING,
        "categories": "Collection(Edm.String)",
        "assignedTo": STRING,
        "alertWebUrl": STRING,
        "incidentWebUrl": STRING,
        "actorDisplayName": STRING,
        "threatDisplayName": STRING,
        "threatFamilyName": STRING,
        "mitreTechniques": "Collection(Edm.String)",
        "createdDateTime": DATETIME,
        "lastUpdateDateTime": DATETIME,
        "resolvedDateTime": DATETIME,
        "firstActivityDateTime": DATETIME,
        "lastActivityDateTime": DATETIME,
        "alertPolicyId": STRING,
        "investigationState": NS + "investigationState",
        "comments": "Collection(%salertComment)" % NS,
        "systemTags": "Collection(Edm.String)",
        "customDetails": NS + "dictionary",
        "additionalData": NS + "dictionary",
        "evidence": "Collection(%salertEvidence)" % NS,
    },
    filterable=("assignedTo", "classification", "createdDateTime", "determination",
                "lastUpdateDateTime", "serviceSource", "severity", "status"),
    orderable=("createdDateTime", "lastUpdateDateTime"),
    tick_keys={"createdDateTime": "_created_ticks", "lastUpdateDateTime": "_updated_ticks"},
)


def odata_error(req, err):
    """400 in the shape Graph uses for query validation errors."""
    return graph_error(req, 400, err.code, err.message)


def list_alerts(req):
    """GET .../security/alerts_v2: one page of alerts (its body cached for
    the data version, see odata.cached_list_page)."""
    return cached_list_page(req, ENTITY_SET, lambda: _list_alerts(req))


def _list_alerts(req):
    try:
        max_top = req.state.config.get("alerts_max_top") or MAX_TOP
        opts = parse_options(req.query_pairs, LIST_OPTIONS, max_top=max_top, schema=SCHEMA)
    except ODataError as err:
        return odata_error(req, err)
    rows = select_rows(req.state, "alerts_v2", SCHEMA, opts, req.state.alerts_snapshot)
    return list_page(req, ENTITY_SET, SCHEMA, opts, rows, DEFAULT_TOP, {})


def get_alert(req):
    """GET .../security/alerts_v2/{id}: one alert or 404."""
    try:
        opts = parse_options(req.query_pairs, GET_OPTIONS, schema=SCHEMA)
    except ODataError as err:
        return odata_error(req, err)
    alert = req.state.find_alert(req.params["id"])
    if alert is None:
        return graph_error(req, 404, "NotFound", "Alert with id '%s' was not found." % req.params["id"])
    return json_response(entity_body(req, ENTITY_SET, alert, opts, {}))
