"""The older Microsoft Defender for Endpoint API (graph-api.md section 3.3),
as far as defender_fdw uses it:

  GET /mde/api/alerts/{id}/domains

The emulator serves the API under /mde (servers point mde_url at
{emulator}/mde); the "mde" area makes every request carry a token whose
audience path is "/mde", so a Graph token gets 401.  The API knows only
endpoint alerts: alerts_v2 objects whose serviceSource is
microsoftDefenderForEndpoint (their id is the MDE alert id).  Any other id is
a 404 ResourceNotFound in the API's own error shape
{"error":{"code","message","target"}}.

An alert's domains are the hosts of its urlEvidence URLs and the names of its
dnsEvidence, normalised as a DNS name is compared: ASCII letters lower-cased,
port, user info and a trailing dot dropped, IPv6 brackets removed; each once,
in evidence order.
"""

import re
import urllib.parse

from common import Response, new_guid

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
MDE_SERVICE_SOURCE = "microsoftDefenderForEndpoint"


def mde_error(status, code, message):
    return Response(status=status, obj={"error": {"code": code, "message": message, "target": new_guid()}})


def url_host(url):
    """The host of a URL as a DNS name; "" when it has none."""
    text = url.strip()
    if not _SCHEME.match(text):
        text = "//" + text.lstrip("/")          # no scheme: the text starts with the host
    try:
        host = urllib.parse.urlsplit(text).hostname or ""
    except ValueError:
        return ""
    return normalise(host)


def normalise(name):
    return name.translate(_ASCII_LOWER).rstrip(".")


def alert_hosts(alert):
    """The domains of an alert's URL and DNS evidence, once each, in order."""
    seen = []
    for evidence in alert.get("evidence") or ():
        kind = (evidence.get("@odata.type") or "").lstrip("#")
        if kind == "microsoft.graph.security.urlEvidence" and isinstance(evidence.get("url"), str):
            host = url_host(evidence["url"])
        elif kind == "microsoft.graph.security.dnsEvidence" and isinstance(evidence.get("domainName"), str):
            host = normalise(evidence["domainName"].strip())
        else:
            continue
        if host and host not in seen:
            seen.append(host)
    return seen


def alert_domains(req):
    """GET /mde/api/alerts/{id}/domains"""
    alert = req.state.find_alert(req.params["id"])
    if alert is None or alert.get("serviceSource") != MDE_SERVICE_SOURCE:
        return mde_error(404, "ResourceNotFound", "Alert %s was not found" % req.params["id"])
    return Response(obj={"@odata.context": req.base_url + "/mde/api/$metadata#Domains",
                         "value": [{"host": host} for host in alert_hosts(alert)]})
