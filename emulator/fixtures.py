"""Deterministic fixture data: security incidents.

generate_incidents(count, seed) always returns the same list for the same
arguments (one random.Random(seed), no clock, no hash-ordered iteration).
Some rows deliberately carry awkward characters (quotes, &, #, %, +,
backslash, newlines, non-ASCII) so filter and quoting tests have material.
Each incident also keeps private sort keys (_created_ticks, _updated_ticks)
that strip_private() removes before anything goes on the wire.
"""

import random

from common import format_ticks, TICKS_PER_SECOND

TENANT_ID = "00000000-0000-0000-0000-000000000001"

# Fixed anchor (2025-03-01T00:00:00Z in ticks since the Unix epoch) so the data
# never depends on when the emulator runs.
ANCHOR_TICKS = 1740787200 * TICKS_PER_SECOND

STATUSES = ["active", "inProgress", "resolved", "redirected"]
STATUS_WEIGHTS = [40, 20, 30, 10]
SEVERITIES = ["unknown", "informational", "low", "medium", "high"]
SEVERITY_WEIGHTS = [5, 10, 30, 35, 20]

# Determinations that make sense for each classification (values from the
# v1.0 CSDL alertDetermination enum).
DETERMINATIONS = {
    "truePositive": ["apt", "malware", "multiStagedAttack", "compromisedAccount",
                     "phishing", "maliciousUserActivity", "unwantedSoftware"],
    "falsePositive": ["notMalicious", "notEnoughDataToValidate", "other"],
    "informationalExpectedActivity": ["securityTesting", "lineOfBusinessApplication",
                                      "confirmedActivity", "securityPersonnel"],
    "unknown": ["unknown", "other"],
}
CLASSIFICATIONS = ["truePositive", "falsePositive", "informationalExpectedActivity", "unknown"]

ASSIGNEES = ["admin@contoso.com", "soc.analyst@contoso.com", "tier2@contoso.com",
             "jane.doe@contoso.com", "sec-ops@fabrikam.com"]
TAGS = ["Demo", "PCI", "VIP", "Sentinel", "Exec", "Lab", "ransomware", "Q3-review"]
MODIFIERS = ["API-App:admin@contoso.com", "admin@contoso.com", "Automation",
             "soc.analyst@contoso.com", "API-App:11111111-1111-1111-1111-111111111111"]

TACTICS = ["Initial access", "Execution", "Persistence", "Privilege escalation",
           "Defense evasion", "Credential access", "Discovery", "Lateral movement",
           "Collection", "Exfiltration", "Command and control", "Impact"]
HOSTS = ["WS-0142", "FIN-LAPTOP-07", "SQL-PROD-01", "DC01", "FILESRV", "HR-PC-33",
         "BUILD-AGENT-5", "web-frontend-2"]
USERS = ["alice", "bob", "carol", "dave", "svc_backup", "administrator"]
NAME_TEMPLATES = [
    "Multi-stage incident involving {t1} & {t2} on one endpoint",
    "Multi-stage incident involving {t1} & {t2} on multiple endpoints reported by multiple sources",
    "Suspicious PowerShell command line on {host}",
    "{t1} incident on one endpoint",
    "Suspicious sign-in activity for user {user}",
    "Email messages containing malicious URL removed after delivery",
    "Possible credential theft on {host}",
    "Anomalous token usage by {user}",
    "Ransomware activity detected on {host}",
    "Unusual file deletion by {user} on {host}",
]
DESCRIPTIONS = [
    "Automated investigation started for {host}.",
    "Alerts from Defender for Endpoint and Defender for Identity were correlated into this incident.",
    "User {user} signed in from an unfamiliar location.\nThe session was later used to access {host}.",
    "Process tree:\n\tcmd.exe\n\t\tpowershell.exe -enc ...",
    "",
]
SUMMARIES = [
    "An attacker gained access via phishing and moved laterally to {host}.",
    "Credential dumping followed by suspicious remote execution on {host}.",
    "Suspicious mailbox rule created for {user}.",
]
RESOLVING_COMMENTS = [
    "Confirmed benign after review.", "Remediated: device isolated and reimaged.",
    "Duplicate of an earlier incident.", "User's password reset; MFA enforced.",
]
COMMENT_TEXTS = [
    "Investigating.", "Escalated to tier 2.", "Isolated the device.",
    "Customer says it's expected \"maintenance\" work.", "Contacted user — no response yet.",
]

# Rows with awkward characters, used for every 10th incident (index % 10 == 3)
# so any count >= 4 has at least one and 130 covers every entry.
AWKWARD_NAMES = [
    "Suspicious activity by O'Brien on host 'FIN-LAPTOP-07'",
    'Phishing email "Invoice overdue" delivered to 3 users',
    "Ransomware & data exfiltration on SQL-PROD-01",
    "Alert #4711: credential dumping via LSASS",
    "Disk usage 100% reached after wipe attempt on FILESRV",
    "C++ build server ran obfuscated script a+b=c",
    "Malware found in C:\\Users\\Public\\evil.exe",
    "Activité suspecte de connexion — café réseau",
    "日本 office: impossible travel sign-in",
    "Mixed 'single' \"double\" & # % + \\ é 日本",
    "Fire drill 🔥 test incident (non-BMP character)",
    "50% off \"deal\" email & O'Reilly link #phish",
]
AWKWARD_TAGS = [
    ["O'Reilly"], ['say "hi"'], ["R&D"], ["C#"], ["50%"], ["a+b"], ["back\\slash"],
    ["café"], ["日本"], ["O'Reilly", "R&D", "C#"], ["🔥"], ["PCI", "50%"],
]
AWKWARD_ASSIGNEES = [
    "o'brien@contoso.com", "first+filter@contoso.com", "renée@contoso.com",
    "SOC Tier 2 & Friends", "user#1@contoso.com", "100%admin@contoso.com",
    "back\\slash@contoso.com", "josé@contoso.com", "山田@contoso.jp", None,
    "quote\"d@contoso.com", "o'neil+soc@contoso.com",
]


def _fill(template, rng):
    """Fill a name/description template with random parts."""
    return template.format(
        t1=rng.choice(TACTICS), t2=rng.choice(TACTICS),
        host=rng.choice(HOSTS), user=rng.choice(USERS))


def _random_ticks(rng, max_seconds):
    """A random span up to max_seconds with 7-digit sub-second precision."""
    return rng.randint(0, max_seconds) * TICKS_PER_SECOND + rng.randrange(TICKS_PER_SECOND)


def generate_incidents(count, seed):
    """Return `count` incidents, newest createdDateTime first.

    Ids and creation times both increase in creation order, so ids are unique
    and the default order is also descending id."""
    rng = random.Random(seed)
    incidents = []
    created = ANCHOR_TICKS
    next_id = 1000 + rng.randint(0, 999)
    for index in range(count):
        created += rng.randint(10 * 60, 3 * 86400) * TICKS_PER_SECOND + rng.randrange(TICKS_PER_SECOND)
        next_id += rng.randint(1, 9)
        incidents.append(_make_incident(rng, index, str(next_id), created))

    # Redirected incidents point at another incident (merged into it).
    ids = [inc["id"] for inc in incidents]
    for inc in incidents:
        if inc["status"] == "redirected":
            others = [i for i in ids if i != inc["id"]]
            inc["redirectIncidentId"] = rng.choice(others) if others else str(int(inc["id"]) + 1)

    incidents.sort(key=lambda inc: inc["_created_ticks"], reverse=True)
    return incidents


def _make_incident(rng, index, incident_id, created):
    """Build one incident; key order follows the documented sample."""
    status = rng.choices(STATUSES, STATUS_WEIGHTS)[0]
    severity = rng.choices(SEVERITIES, SEVERITY_WEIGHTS)[0]

    classification = determination = None
    if status == "resolved" or (status in ("active", "inProgress") and rng.random() < 0.25):
        classification = rng.choice(CLASSIFICATIONS)
        if rng.random() < 0.85:
            determination = rng.choice(DETERMINATIONS[classification])

    assigned = None if rng.random() < 0.35 else rng.choice(ASSIGNEES)
    updated = created if rng.random() < 0.05 else created + _random_ticks(rng, 20 * 86400)
    custom_tags = [] if rng.random() < 0.5 else rng.sample(TAGS, rng.randint(1, 3))
    system_tags = ["Defender Experts"] if rng.random() < 0.1 else []
    priority = None if rng.random() < 0.15 else rng.randint(0, 100)
    display_name = _fill(rng.choice(NAME_TEMPLATES), rng)
    description = _fill(rng.choice(DESCRIPTIONS), rng)
    summary = None if rng.random() < 0.2 else _fill(rng.choice(SUMMARIES), rng)
    modified_by = rng.choice(MODIFIERS)

    comments = []
    if rng.random() < 0.15:
        for _ in range(rng.randint(1, 3)):
            when = created + rng.randint(0, max(0, updated - created))
            comments.append({
                "comment": rng.choice(COMMENT_TEXTS),
                "createdByDisplayName": rng.choice(MODIFIERS),
                # Graph trims trailing zeros in some timestamps; comments do so here.
                "createdDateTime": format_ticks(when, digits=None),
            })
        comments.sort(key=lambda c: c["createdDateTime"])

    if index % 10 == 3:
        slot = (index // 10) % len(AWKWARD_NAMES)
        display_name = AWKWARD_NAMES[slot]
        custom_tags = list(AWKWARD_TAGS[slot])
        assigned = AWKWARD_ASSIGNEES[slot]
        description = "Awkward row: " + display_name + "\r\nSecond line."

    return {
        "id": incident_id,
        "tenantId": TENANT_ID,
        "status": status,
        "incidentWebUrl": "https://security.microsoft.com/incident2/%s/overview?tid=%s" % (incident_id, TENANT_ID),
        "redirectIncidentId": None,
        "displayName": display_name,
        "createdDateTime": format_ticks(created),
        "lastUpdateDateTime": format_ticks(updated),
        "assignedTo": assigned,
        "classification": classification,
        "determination": determination,
        "severity": severity,
        "customTags": custom_tags,
        "systemTags": system_tags,
        "description": description,
        "lastModifiedBy": modified_by,
        "resolvingComment": rng.choice(RESOLVING_COMMENTS) if status == "resolved" else None,
        "summary": summary,
        "priorityScore": priority,
        "comments": comments,
        "_created_ticks": created,
        "_updated_ticks": updated,
    }


def strip_private(incident):
    """A wire copy of an incident: private keys removed, lists copied."""
    out = {}
    for key, value in incident.items():
        if key.startswith("_"):
            continue
        if isinstance(value, list):
            value = [dict(v) if isinstance(v, dict) else v for v in value]
        out[key] = value
    return out
