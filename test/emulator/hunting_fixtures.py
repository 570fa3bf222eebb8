"""Deterministic fixture tables for advanced hunting (runHuntingQuery).

The tables and their columns and types are those of the schema file the
extension ships, defender_fdw_hunting_schema.txt at the top of the
repository, read from it at import (SCHEMA_FILE); this module adds only the
rows (and the two emulator-only tables below).
generate_table(name, rows, seed, anchor_ticks) builds a kql.Table:

  * the same (name, rows, seed, anchor) always gives the same rows;
  * Timestamp values are spread over the 29 days before `anchor_ticks` (the
    time of the last reset), with full 100 ns precision;
  * values come from per-table pools of "profiles" (a device, an account, a
    process, ...), so related columns agree and generation is fast (100k
    DeviceProcessEvents rows in about a second);
  * about one profile in eight carries awkward text in its free-text columns
    (quotes, backslashes, '|', newlines, tabs, '%', non-ASCII, emoji), some
    strings are empty, some long/int/datetime/bool/dynamic values are null,
    and some longs exceed 2^53 (9007199254740993 + ...);
  * dynamic columns hold real JSON objects, arrays, strings and numbers.

DefenderFdwTypes is an emulator-only test table (not in Defender) with one
column per response type and fixed rows, independent of `rows` and `seed`.
DefenderFdwEdges, also emulator-only, holds the values where SQL and KQL
part ways (longs near 2^63 whose sum overflows, NaN and infinite reals,
empty strings, mixed-case and non-ASCII text, LIKE metacharacters, the
first and last datetime, 100 ns ticks, negative timespans, nulls of every
type) for the differential tester, test/checks/differential.py.
"""

import hashlib
import operator
import os
import random
import uuid
import zlib
from decimal import Decimal

import kql

TEST_TABLE = "DefenderFdwTypes"
EDGE_TABLE = "DefenderFdwEdges"
SPAN_TICKS = 29 * kql.TICKS_PER_DAY
BIG_INT64 = 9007199254740993          # 2^53 + 1: not representable as a double

# The schema the extension ships and installs (the Makefile's DATA; read by
# src/catalog/hunting_catalog.c for IMPORT FOREIGN SCHEMA hunting and the
# planner), two folders up from here: the emulator serves exactly its tables
# and columns, and adds only its own test tables below.
SCHEMA_FILE = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                            "defender_fdw_hunting_schema.txt"))


def _parse_schemas(text):
    """{table: [(column, normalized KQL type), ...]} from the shipped file's
    format: one "Table(Col:type, ...)" per line; blank and '//' lines are
    skipped.  Every line is kept, both spellings of a table the reference
    lists twice included (KQL table names are case-sensitive; the extension
    keeps the first of those when it looks a name up ignoring case)."""
    tables = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("//"):
            continue
        name, _, body = line.partition("(")
        columns = []
        for part in body.rstrip(")").split(","):
            col, _, typ = part.strip().partition(":")
            columns.append((col.strip(), kql.normalize_type(typ)))
        tables[name.strip()] = columns
    return tables


def _read_schema_file(path):
    with open(path, encoding="utf-8") as f:
        return _parse_schemas(f.read())


SCHEMAS = _read_schema_file(SCHEMA_FILE)
SCHEMAS[TEST_TABLE] = [
    ("Id", "long"), ("StringValue", "string"), ("DateTimeValue", "datetime"), ("BooleanValue", "bool"),
    ("Int32Value", "int"), ("Int64Value", "long"), ("DoubleValue", "real"), ("DecimalValue", "decimal"),
    ("TimeSpanValue", "timespan"), ("GuidValue", "guid"), ("DynamicValue", "dynamic"),
]
SCHEMAS[EDGE_TABLE] = [
    ("Id", "long"), ("Name", "string"), ("Category", "string"), ("Big", "long"), ("Small", "int"),
    ("Ratio", "real"), ("Flag", "bool"), ("EventTime", "datetime"), ("Span", "timespan"),
    ("Extra", "dynamic"),
]


def is_fixed_table(name):
    """An emulator-only table with fixed rows (independent of rows, seed, time)."""
    return name in (TEST_TABLE, EDGE_TABLE)


def table_names():
    return list(SCHEMAS)


def has_timestamp(name):
    return any(col == "Timestamp" and typ == "datetime" for col, typ in SCHEMAS[name])


# --------------------------------------------------------------------------
# Value pools

AWKWARD = [
    "it's a \"quoted\" value",
    "C:\\Users\\Public\\evil dir\\payload.exe",
    "a|b || c | where 1==1",
    "line one\nline two\r\nline three",
    "col1\tcol2\t",
    "100% done_50%_off",
    "Gr\u00fc\u00dfe, na\u00efve caf\u00e9 \u2014 \u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac, \u65e5\u672c\u8a9e",
    "fire \U0001F525 and rocket \U0001F680",
    "trailing backslash \\",
    "mixed '\"\\|\n\t%\U0001F525 all together",
]
FREE_TEXT_SUFFIXES = ("FileName", "FolderPath", "CommandLine", "AccountName", "DisplayName", "Title",
                      "Subject", "Description", "RegistryValueData", "UserAgent", "Location", "City",
                      "FailureReason", "ProductName", "FileDescription", "ObjectName", "Query")
FILE_NAMES = ["cmd.exe", "powershell.exe", "POWERSHELL.EXE", "svchost.exe", "explorer.exe", "chrome.exe",
              "rundll32.exe", "notepad.exe", "WINWORD.EXE", "msedge.exe", "python.exe", "bash", "curl",
              "lsass.exe", "conhost.exe", "OneDrive.exe", "Teams.exe", "reg.exe", "wmic.exe", "mshta.exe"]
FOLDERS = ["C:\\Windows\\System32", "C:\\Windows\\SysWOW64", "C:\\Program Files\\Google\\Chrome\\Application",
           "C:\\Users\\alice\\AppData\\Local\\Temp", "C:\\Windows", "/usr/bin", "/tmp",
           "C:\\Program Files\\Microsoft Office\\root\\Office16"]
ARGS = ["", "/c whoami", "-NoProfile -EncodedCommand SQBFAFgA", "--type=renderer --lang=en-US",
        "/s /q C:\\temp", "-c 'id; uname -a'", "https://contoso.example/payload.ps1", "/i shell32.dll,Control_RunDLL"]
HOSTS = ["ws-001.contoso.local", "ws-002.contoso.local", "srv-dc01.contoso.local", "laptop-bob",
         "LAPTOP-ALICE.contoso.local", "build-agent-7", "sql-prod-02.contoso.local", "kiosk-3",
         "mac-carol.local", "ubuntu-runner", "ws-013.fabrikam.local", "edge-gw-1"]
USERS = ["alice", "bob", "carol", "dave", "eve", "system", "network service", "svc_backup", "Administrator",
         "o'connor", "j.doe", "marie-th\u00e9r\u00e8se"]
DISPLAY = ["Alice Smith", "Bob Jones", "Carol White", "Dave Brown", "Eve Adversary", "SYSTEM",
           "Jean O'Connor", "Marie-Th\u00e9r\u00e8se Dupont"]
DOMAINS = ["contoso.com", "fabrikam.com", "CONTOSO", "nt authority", "woodgrovebank.com", "tailspin.io"]
PUBLIC_DOMAINS = ["contoso.example", "login.microsoftonline.com", "evil.example.net", "cdn.fabrikam.io",
                  "update.microsoft.com", "xn--bcher-kva.example"]
ENUMS = {
    "Severity": ["High", "Medium", "Low", "Informational"],
    "Category": ["Execution", "Persistence", "CredentialAccess", "LateralMovement", "Discovery", "Malware"],
    "ServiceSource": ["Microsoft Defender for Endpoint", "Microsoft Defender for Office 365",
                      "Microsoft Defender for Identity", "Microsoft Defender for Cloud Apps"],
    "DetectionSource": ["EDR", "Antivirus", "Custom detection", "Automated investigation", "Microsoft Defender XDR"],
    "EntityType": ["File", "Process", "User", "Ip", "Url", "Machine", "MailMessage", "Mailbox"],
    "EvidenceRole": ["Impacted", "Related"],
    "EvidenceDirection": ["Source", "Destination", ""],
    "LogonType": ["Interactive", "Network", "RemoteInteractive", "Batch", "Service", "Unlock"],
    "Protocol": ["Tcp", "Udp", "Kerberos", "Ntlm", "Negotiate", "Icmp"],
    "RequestProtocol": ["SMB", "NFS", "Local"],
    "EmailDirection": ["Inbound", "Outbound", "Intra-org"],
    "DeliveryAction": ["Delivered", "Junked", "Blocked", "Replaced"],
    "LatestDeliveryAction": ["Delivered", "Moved to quarantine", "Junked", ""],
    "DeliveryLocation": ["Inbox/folder", "Junk folder", "Quarantine", "Failed", "Dropped"],
    "LatestDeliveryLocation": ["Inbox/folder", "Junk folder", "Quarantine", "Deleted items"],
    "ThreatTypes": ["", "Phish", "Malware", "Spam", "Phish, Spam"],
    "ConfidenceLevel": ["", '{"Phish":"High"}', '{"Spam":"Normal"}'],
    "EmailAction": ["", "Move message to junk mail folder", "Send to quarantine"],
    "EmailLanguage": ["en", "de", "fr", "ja", ""],
    "OSPlatform": ["Windows11", "Windows10", "WindowsServer2022", "Linux", "macOS"],
    "OSArchitecture": ["64-bit", "32-bit", "ARM64"],
    "Application": ["Active Directory", "Microsoft Teams", "Office 365", "Microsoft Exchange Online",
                    "Microsoft SharePoint Online"],
    "DeviceType": ["Workstation", "Server", "Mobile", "NetworkDevice", ""],
    "InitiatingProcessSignerType": ["Microsoft", "OsVendor", "ThirdParty", "Unknown"],
    "InitiatingProcessSignatureStatus": ["Valid", "Unsigned", "Invalid", "Unknown"],
    "ThreatFamily": ["", "Mimikatz", "Emotet", "CobaltStrike"],
    "VulnerabilitySeverityLevel": ["Critical", "High", "Medium", "Low"],
    "CloudPlatform": ["", "Azure", "AWS", "GCP"],
    "SensorHealthState": ["Active", "Inactive", "ImpairedCommunication"],
    "OnboardingStatus": ["Onboarded", "Can be onboarded", "Unsupported"],
    "ExposureLevel": ["High", "Medium", "Low", "None"],
    "AssetValue": ["Normal", "High", "Low"],
    "RegistryValueType": ["String", "Dword", "Binary", "ExpandString", "MultiString"],
    "UrlLocation": ["Body", "Attachment", "Header"],
    "Workload": ["Email", "Teams", "Office"],
}
ACTION_TYPES = {
    "DeviceProcessEvents": ["ProcessCreated"],
    "DeviceNetworkEvents": ["ConnectionSuccess", "ConnectionFailed", "InboundConnectionAccepted",
                            "ListeningConnectionCreated", "ConnectionRequest"],
    "DeviceLogonEvents": ["LogonSuccess", "LogonFailed", "LogonAttempted"],
    "DeviceFileEvents": ["FileCreated", "FileModified", "FileDeleted", "FileRenamed"],
    "DeviceRegistryEvents": ["RegistryValueSet", "RegistryKeyCreated", "RegistryKeyDeleted", "RegistryValueDeleted"],
    "DeviceImageLoadEvents": ["ImageLoaded"],
    "DeviceEvents": ["AntivirusDetection", "PowerShellCommand", "UsbDriveMounted", "ExploitGuardNetworkProtectionBlocked",
                     "DnsQueryResponse"],
    "IdentityLogonEvents": ["LogonSuccess", "LogonFailed"],
    "IdentityQueryEvents": ["LDAP query", "DNS query", "SAMR query"],
    "IdentityDirectoryEvents": ["Account Password changed", "Group Membership changed", "Account Enabled"],
    "CloudAppEvents": ["FileDownloaded", "MailItemsAccessed", "Add member to role.", "FileUploaded"],
    "EmailPostDeliveryEvents": ["Phish ZAP", "Malware ZAP", "Manual Remediation"],
    "UrlClickEvents": ["ClickAllowed", "ClickBlocked", "UrlScanInProgress"],
}
TITLES = ["Suspicious PowerShell command line", "Credential dumping activity", "Phishing email delivered",
          "Unusual sign-in activity", "Ransomware behavior detected", "Suspicious process injection"]


def _hex(rng, digits):
    return "%0*x" % (digits, rng.getrandbits(4 * digits))


def _guid(rng):
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _pick(pool, p):
    return pool[p % len(pool)]


def _ip(rng, col):
    if "IPv6" in col or rng.random() < 0.08:
        return "2001:db8:%x:%x::%x" % (rng.getrandbits(16), rng.getrandbits(16), rng.getrandbits(16))
    if rng.random() < 0.5:
        return "10.%d.%d.%d" % (rng.randrange(256), rng.randrange(256), rng.randrange(1, 255))
    return "%d.%d.%d.%d" % (rng.choice([20, 52, 104, 185, 203]), rng.randrange(256), rng.randrange(256),
                            rng.randrange(1, 255))


def _is_free_text(col):
    return col.endswith(FREE_TEXT_SUFFIXES)


def _string_value(table, col, rng, k, p):
    """A string for column `col` of profile k (p: the profile's persona number)."""
    if k % 11 == 10 and col not in ("ActionType", "DeviceId", "DeviceName"):
        return ""
    if k % 8 == 3 and _is_free_text(col):
        return AWKWARD[(k // 8 + zlib.crc32(col.encode())) % len(AWKWARD)]
    if col == "ActionType":
        return _pick(ACTION_TYPES.get(table, ["Event"]), p)
    if col in ENUMS:
        return _pick(ENUMS[col], p + zlib.crc32(col.encode()))
    for suffix in ("SHA256",):
        if col.endswith(suffix):
            return _hex(rng, 64)
    if col.endswith("SHA1") or col.endswith("Hash"):
        return _hex(rng, 40)
    if col.endswith("MD5"):
        return _hex(rng, 32)
    if col.endswith("Sid"):
        return "S-1-5-21-%d-%d-%d-%d" % (rng.getrandbits(31), rng.getrandbits(31), rng.getrandbits(31), 1000 + p)
    if col in ("DeviceId", "MergedToDeviceId", "HostDeviceId") or col.endswith("DeviceId") and "Aad" not in col:
        return hashlib.sha1(("device%d" % p).encode()).hexdigest()
    if col.endswith(("ObjectId", "Guid", "TenantId", "AadDeviceId", "EntraIdDeviceId", "ApplicationId",
                     "CorrelationId", "SessionId", "RequestId", "OperationId", "ClientRequestId",
                     "SubscriptionId", "ServicePrincipalId", "OAuthAppId", "OAuthApplicationId",
                     "UniqueTokenId", "UniqueTokenIdentifier", "SenderObjectId")):
        return _guid(rng)
    if col.endswith("FileName"):
        return _pick(FILE_NAMES, p)
    if col.endswith("FolderPath"):
        folder = _pick(FOLDERS, p // 3)
        sep = "/" if folder.startswith("/") else "\\"
        return folder + sep + _pick(FILE_NAMES, p)
    if col.endswith("CommandLine"):
        name = _pick(FILE_NAMES, p)
        arg = _pick(ARGS, p // 2)
        return ('"%s" %s' % (name, arg)).strip()
    if col.endswith("DeviceName"):
        return _pick(HOSTS, p)
    if col.endswith("AccountName") or col == "AccountName":
        return _pick(USERS, p)
    if col.endswith("DisplayName"):
        return _pick(DISPLAY, p)
    if col.endswith("Domain") or col == "Domain":
        if col.startswith("Sender"):
            return _pick(PUBLIC_DOMAINS, p)
        return _pick(DOMAINS, p)
    if col.endswith(("Upn", "EmailAddress", "MailFromAddress", "FromAddress", "SipProxyAddress")):
        return "%s@%s" % (_pick(USERS, p).replace(" ", "."), _pick(DOMAINS[:2] + PUBLIC_DOMAINS[:2], p // 2))
    if col.endswith(("IP", "IPv4", "IPv6", "IPAddress", "PublicIP", "RequestSourceIP")) or col in (
            "IPv4Dhcp", "IPv6Dhcp"):
        return _ip(rng, col)
    if col.endswith(("Url", "Uri")) or col == "Url":
        return "https://%s/%s?id=%d" % (_pick(PUBLIC_DOMAINS, p), _pick(["login", "download/file.zip", "a/b/c",
                                                                           "index.html"], p // 2), p)
    if col.endswith("UrlDomain"):
        return _pick(PUBLIC_DOMAINS, p)
    if col.endswith("IPType"):
        return _pick(["Public", "Private", "Loopback", "FourToSixMapping"], p)
    if col.endswith("IntegrityLevel"):
        return _pick(["High", "Medium", "Low", "System"], p)
    if col.endswith("TokenElevation"):
        return _pick(["TokenElevationTypeDefault", "TokenElevationTypeFull", "TokenElevationTypeLimited"], p)
    if col.endswith("CompanyName"):
        return _pick(["Microsoft Corporation", "Google LLC", "Contoso Ltd.", "Python Software Foundation", ""], p)
    if col.endswith("ProductVersion") or col in ("ClientVersion", "OSVersion", "ExtensionVersion",
                                                 "SoftwareVersion", "ApiVersion"):
        return "%d.%d.%d.%d" % (10, p % 3, 19041 + p, p * 7 % 1000)
    if col in ("AdditionalFields", "RawEventData"):
        return '{"Key":"v%d","Count":%d,"Nested":{"Flag":%s}}' % (p, p * 3, "true" if p % 2 else "false")
    if col in ("Categories", "LoggedOnUsers", "AttackTechniques", "MergedDeviceIds", "DeviceManualTags",
               "DeviceDynamicTags", "UrlChain", "ConnectedNetworks", "DnsAddresses", "IPAddresses",
               "DefaultGateways"):
        items = [_pick(["Execution", "Persistence", "T1059.001", "alice", "bob", "tag-a"], p + j)
                 for j in range(p % 3 + 1)]
        return "[" + ",".join('"%s"' % s for s in items) + "]"
    if col in ("Title", "Subject", "EmailSubject"):
        return _pick(TITLES, p)
    if col.endswith("Port"):
        return str(rng.randrange(1, 65536))
    return "%s-%d" % (col, p % 50)


def _dynamic_value(col, rng, k, p):
    kind = k % 6
    if kind == 0:
        return None
    if kind == 1:
        return {"Key": "v%d" % p, "Count": p, "Big": BIG_INT64, "Flag": bool(p % 2), "Ratio": 0.5,
                "Nested": {"List": [1, "two", None]}}
    if kind == 2:
        return ["tag-%d" % p, "x", p]
    if kind == 3:
        return "plain string %d" % p
    if kind == 4:
        return BIG_INT64 + p
    return {"Text": AWKWARD[p % len(AWKWARD)], "Empty": "", "Array": [], "Object": {}}


def _value(table, col, typ, rng, k, p, anchor):
    if typ == "string":
        return _string_value(table, col, rng, k, p)
    if typ == "long":
        if k % 10 == 7:
            return None
        if k % 13 == 5:
            return BIG_INT64 + p
        if col.endswith("Size"):
            return rng.randrange(0, 80_000_000)
        if col.endswith("ClusterId"):
            return rng.getrandbits(62)
        if col in ("OSBuild",):
            return _pick([19045, 22631, 20348, 17763], p)
        return rng.randrange(0, 70_000)
    if typ == "int":
        if k % 10 == 7:
            return None
        if col.endswith("Port"):
            return _pick([443, 80, 445, 3389, 22, 53, 135, 49152 + p], p)
        if col.endswith("Count"):
            return p % 7
        return rng.randrange(0, 100)
    if typ == "bool":
        if k % 5 == 4:
            return None
        return bool((p + k) % 2)
    if typ == "real":
        if k % 10 == 7:
            return None
        return round(rng.random() * 10, 3)
    if typ == "datetime":
        if k % 9 == 4:
            return None
        return anchor - rng.randrange(kql.TICKS_PER_SECOND, 60 * kql.TICKS_PER_DAY)
    if typ == "dynamic":
        return _dynamic_value(col, rng, k, p)
    if typ == "guid":
        return _guid(rng)
    if typ == "timespan":
        return rng.randrange(0, kql.TICKS_PER_DAY)
    if typ == "decimal":
        return Decimal(rng.randrange(0, 10 ** 6)) / 100
    raise ValueError(typ)


# --------------------------------------------------------------------------
# Row-level columns (a fresh value per row)

def _row_generator(table, col, typ):
    """fn(i, n, ts, rnd, rng) for columns that differ on every row, else None."""
    if col == "ReportId" and typ == "long":
        return lambda i, n, ts, rnd, rng: (BIG_INT64 + i) if i % 97 == 13 else i + 1
    if col == "ReportId" and typ == "string":
        return lambda i, n, ts, rnd, rng: "%032x" % rng.getrandbits(128)
    if col == "ProcessId" and typ == "long":
        return lambda i, n, ts, rnd, rng: 4 + int(rnd() * 65_000)
    if col == "ProcessCreationTime" and typ == "datetime":
        return lambda i, n, ts, rnd, rng: ts - int(rnd() * 10 * kql.TICKS_PER_SECOND)
    if col == "LogonId" and typ == "long":
        return lambda i, n, ts, rnd, rng: None if i % 17 == 5 else int(rnd() * 4_294_967_296)
    if col == "NetworkMessageId":
        return lambda i, n, ts, rnd, rng: _guid(rng)
    if col == "InternetMessageId":
        return lambda i, n, ts, rnd, rng: "<%s@mail.contoso.com>" % _hex(rng, 24)
    if col == "AlertId" and table == "AlertInfo":
        return lambda i, n, ts, rnd, rng: "da%016x" % (i + 1)
    if col == "AlertId":
        return lambda i, n, ts, rnd, rng: "da%016x" % (1 + int(rnd() * max(n, 1)))
    return None


def _group_of(col):
    if col.startswith("InitiatingProcessParent"):
        return "ipparent"
    if col.startswith(("InitiatingProcess", "IsInitiatingProcess")):
        return "ip"
    if col.startswith(("Process", "CreatedProcess", "IsProcess")) or col in (
            "FileName", "FolderPath", "SHA1", "SHA256", "MD5", "FileSize"):
        return "proc"
    if col.startswith("Account") or col == "LogonType":
        return "account"
    if col.startswith("Sender"):
        return "sender"
    if col.startswith("Recipient"):
        return "recipient"
    if col.startswith("Device") or col.startswith("OS") or col in ("AadDeviceId", "MachineGroup"):
        return "device"
    if col.startswith(("Remote", "Local", "Destination")) or col in ("Protocol", "IPAddress", "Port"):
        return "net"
    return "misc%d" % (zlib.crc32(col.encode()) % 3)


# public names for generated_tables.py (same profiles, rows by index)
def group_of(col):
    return _group_of(col)


def profile_value(table, col, typ, rng, k, p, anchor):
    return _value(table, col, typ, rng, k, p, anchor)


GROUP_SIZES = {"device": 12, "account": 16, "ip": 24, "ipparent": 10, "proc": 32, "net": 24,
               "sender": 12, "recipient": 12}


def generate_table(name, rows, seed, anchor_ticks):
    """The fixture table `name` as a kql.Table (rows in generation order)."""
    if name == TEST_TABLE:
        return types_table()
    if name == EDGE_TABLE:
        return edges_table()
    columns = SCHEMAS[name]
    row_cols = []          # (position in table, generator)
    ts_pos = None
    groups = {}            # group -> [(position, col, type)]
    for pos, (col, typ) in enumerate(columns):
        if col == "Timestamp" and typ == "datetime":
            ts_pos = pos
            continue
        gen = _row_generator(name, col, typ)
        if gen is not None:
            row_cols.append((pos, gen))
            continue
        groups.setdefault(_group_of(col), []).append((pos, col, typ))

    pools = []
    order = ([ts_pos] if ts_pos is not None else []) + [pos for pos, _ in row_cols]
    for group, members in groups.items():
        rng = random.Random("%s|%s|%s" % (seed, name, group))
        size = GROUP_SIZES.get(group, 20)
        profiles = []
        for k in range(size):
            p = rng.randrange(1_000_000)
            profiles.append(tuple(_value(name, col, typ, rng, k, p, anchor_ticks) for _, col, typ in members))
        pools.append((profiles, len(profiles)))
        order.extend(pos for pos, _, _ in members)
    where = {pos: i for i, pos in enumerate(order)}
    perm = operator.itemgetter(*[where[pos] for pos in range(len(columns))])

    rng = random.Random("%s|%s|rows" % (seed, name))
    rnd = rng.random
    gens = [gen for _, gen in row_cols]
    with_ts = ts_pos is not None
    out = []
    append = out.append
    for i in range(rows):
        ts = anchor_ticks - 1 - int(rnd() * SPAN_TICKS)
        vals = [ts] if with_ts else []
        for gen in gens:
            vals.append(gen(i, rows, ts, rnd, rng))
        t = tuple(vals)
        for profiles, size in pools:
            t += profiles[int(rnd() * size)]
        append(perm(t))
    return kql.Table(columns, out)


# --------------------------------------------------------------------------
# DefenderFdwTypes: one column per Graph response type, fixed rows

def types_table():
    g = kql.parse_datetime
    rows = [
        (1, "plain", g("2024-01-02T03:04:05.1234567Z"), True, 2147483647, BIG_INT64, 0.1,
         Decimal("123456789012345678.123456789"), kql.parse_timespan("1.02:03:04.5"),
         "6f9619ff-8b86-d011-b42d-00c04fc964ff", {"a": 1, "b": [1, 2, {"c": None}], "big": BIG_INT64}),
        (2, "it's \"quoted\" \\ back|slash\nnew\tline 100% \u00e9\u65e5\U0001F525", g("0001-01-01T00:00:00Z"),
         False, -2147483648, -9223372036854775808, 1e300, Decimal("-0.000001"), -kql.TICKS_PER_SECOND,
         "00000000-0000-0000-0000-000000000000", [1, "two", None, 3.5, True]),
        (3, "", g("9999-12-31T23:59:59.9999999Z"), None, None, None, -0.0, None, None, None,
         "a dynamic string"),
        (4, "\U0001F600 emoji only", None, True, 0, 9223372036854775807, None, Decimal("0"), 0,
         "12345678-90ab-cdef-1234-567890abcdef", 42),
        (5, "null row", None, None, None, None, None, None, None, None, None),
        (6, "small numbers", g("2024-02-29T12:00:00Z"), False, -1, -BIG_INT64, -2.5e-308,
         Decimal("1E-7"), 36 * 3600 * kql.TICKS_PER_SECOND + 1, "ffffffff-ffff-ffff-ffff-ffffffffffff", 1.5),
        (7, "UPPER lower MiXeD", g("1970-01-01T00:00:00Z"), True, 42, 42, 42.0, Decimal("42"),
         kql.TICKS_PER_DAY, "a0a0a0a0-b1b1-c2c2-d3d3-e4e4e4e4e4e4", {}),
        (8, "empty array", g("2000-01-01T00:00:00.0000001Z"), False, 7, 9007199254740992, 1.0000000000000002,
         Decimal("-99999999999999999999.99"), -(3 * kql.TICKS_PER_DAY + 5), "bbbbbbbb-0000-4000-8000-000000000008", []),
    ]
    return kql.Table(SCHEMAS[TEST_TABLE], rows)


# --------------------------------------------------------------------------
# DefenderFdwEdges: the values where SQL and KQL semantics part ways

EDGE_NAMES = ["alpha", "Alpha", "ALPHA", "", "\u00e9cole", "\u00c9COLE", "stra\u00dfe", "STRASSE", "\u01c5ungla",
              "100%", "100% sure", "under_score", "back\\slash", "a_b%c\\d", "it's", "\"q\"", "\U0001F525 fire",
              "\u0130stanbul", "\u03a3\u03af\u03c3\u03c5\u03c6\u03bf\u03c2", "tab\there", "Zeta", "zeta", " lead", "trail "]
EDGE_CATEGORIES = ["red", "Red", "blue", "", "gr\u00fcn"]
EDGE_BIGS = [9223372036854775807, 9223372036854775806, 9223372036854775000, -9223372036854775808,
             -9223372036854775807, 4611686018427387904, BIG_INT64, 0, -1, 1, 42]
EDGE_SMALLS = [2147483647, -2147483648, 0, -1, 1, 7, 100]
EDGE_RATIOS = [float("nan"), float("inf"), float("-inf"), 0.0, -0.0, 1.5, -2.25, 1e308, 5e-324, 0.1]
EDGE_TIMES = ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59.9999999Z", "1970-01-01T00:00:00Z",
              "2025-03-01T00:00:00.0000005Z", "2025-03-01T00:00:00.0000015Z", "2024-02-29T23:59:59.9999999Z",
              "2025-06-15T12:30:00Z", "2000-01-01T00:00:00.0000001Z"]
EDGE_SPANS = [0, 1, -1, kql.TICKS_PER_DAY, -3 * kql.TICKS_PER_DAY - 5, 36 * 3600 * kql.TICKS_PER_SECOND,
              10675199 * kql.TICKS_PER_DAY]


def edges_table(count=96):
    """count fixed rows cycling through the edge values with different
    strides, so that every pair of values meets and every column has nulls."""
    rows = []
    for i in range(count):
        def pick(pool, stride, null_every):
            return None if i % null_every == null_every - 1 else pool[(i * stride) % len(pool)]
        when = pick(EDGE_TIMES, 3, 9)
        extra = None if i % 6 == 5 else [{"k": i % 4, "tags": ["x", "Y"][: i % 3]}, [i % 5, "t"],
                                          "s%d" % (i % 3), i % 7, {"big": BIG_INT64}][i % 5]
        # a Kusto string is never null (an absent string is ""), so the
        # string columns get "" where the others get null
        rows.append((i + 1, pick(EDGE_NAMES, 5, 11) or "", pick(EDGE_CATEGORIES, 1, 13) or "", pick(EDGE_BIGS, 7, 8),
                     pick(EDGE_SMALLS, 3, 10), pick(EDGE_RATIOS, 7, 12), None if i % 7 == 6 else bool(i % 3),
                     None if when is None else kql.parse_datetime(when), pick(EDGE_SPANS, 2, 10), extra))
    return kql.Table(SCHEMAS[EDGE_TABLE], rows)
