#!/usr/bin/python3
"""META.json against the PGXN meta spec 1.0.0, and against this tree.

No validator of the PGXN spec is packaged by Debian or npm, so the spec's
rules are written down as a JSON Schema (pgxn_meta_v1.schema.json beside
this file: the required keys, the types, the license names, SemVer,
version ranges, prereq phases and relationships) and checked with
Debian's python3-jsonschema.  So that the schema cannot pass everything,
broken copies of META.json, one mistake each, must all be rejected.  Then
the values must agree with the tree: the extension's name and version
(defender_fdw.control), the Debian version (debian/changelog), and the
files META.json names.

Usage: test/checks/pgxn_meta.py [REPO_DIR]
"""

import copy
import importlib.metadata
import json
import os
import re
import subprocess
import sys

import jsonschema

from verdict import report

REPO = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                       os.path.join(os.path.dirname(__file__), "..", ".."))
SCHEMA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pgxn_meta_v1.schema.json")


def broken_copies(meta):
    """(what is wrong, a copy of meta with that mistake)"""
    def edit(what, change):
        bad = copy.deepcopy(meta)
        change(bad)
        return what, bad

    for key in ("name", "version", "abstract", "maintainer", "license", "provides", "meta-spec"):
        yield edit("no " + key, lambda m, k=key: m.pop(k))
    yield edit("a version that is not SemVer", lambda m: m.update(version="1.1"))
    yield edit("a license name outside the spec's list", lambda m: m.update(license="PostgreSQL License"))
    yield edit("a provided extension without its file",
               lambda m: m["provides"]["defender_fdw"].pop("file"))
    yield edit("a provided extension with a non-SemVer version",
               lambda m: m["provides"]["defender_fdw"].update(version="1.1"))
    yield edit("meta-spec 2.0.0", lambda m: m["meta-spec"].update(version="2.0.0"))
    yield edit("an unknown prereq phase", lambda m: m["prereqs"].update(install={"requires": {"x": "0"}}))
    yield edit("an unknown prereq relationship",
               lambda m: m["prereqs"]["runtime"].update(needs={"x": "0"}))
    yield edit("a prereq version that is not a range",
               lambda m: m["prereqs"]["runtime"]["requires"].update(PostgreSQL="13"))
    yield edit("an unknown release_status", lambda m: m.update(release_status="beta"))
    yield edit("a resource that is not a URI", lambda m: m["resources"].update(homepage="not a uri"))
    yield edit("a name with a space", lambda m: m.update(name="defender fdw"))
    yield edit("an unknown top-level key", lambda m: m.update(homepage="https://example.invalid/"))
    yield edit("a tag with a slash", lambda m: m.update(tags=["a/b"]))


def control_value(text, key):
    found = re.search(r"^\s*%s\s*=\s*'([^']*)'" % re.escape(key), text, re.M)
    return found.group(1) if found else None


def main():
    problems = []
    with open(os.path.join(REPO, "META.json"), encoding="utf-8") as f:
        meta = json.load(f)
    with open(SCHEMA, encoding="utf-8") as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)

    for error in validator.iter_errors(meta):
        problems.append("META.json: %s: %s" % ("/".join(map(str, error.path)) or "(top)", error.message))

    rejected = 0
    for what, bad in broken_copies(meta):
        if validator.is_valid(bad):
            problems.append("the schema accepts a META.json with " + what)
        else:
            rejected += 1

    # agreement with the tree
    with open(os.path.join(REPO, "defender_fdw.control"), encoding="utf-8") as f:
        control = f.read()
    default_version = control_value(control, "default_version")
    provided = meta.get("provides", {}).get("defender_fdw")
    if provided is None:
        problems.append("META.json does not provide defender_fdw")
    else:
        if not (provided.get("version", "") + ".").startswith(default_version + "."):
            problems.append("provides.defender_fdw.version %s is not default_version %s of defender_fdw.control"
                            % (provided.get("version"), default_version))
        for key in ("file", "docfile"):
            if key in provided and not os.path.isfile(os.path.join(REPO, provided[key])):
                problems.append("provides.defender_fdw.%s: no file %s" % (key, provided[key]))
    if meta.get("version") != (provided or {}).get("version"):
        problems.append("the distribution's version %s is not the extension's %s"
                        % (meta.get("version"), (provided or {}).get("version")))
    debian_version = subprocess.run(["dpkg-parsechangelog", "-l", os.path.join(REPO, "debian", "changelog"),
                                     "-S", "Version"], capture_output=True, text=True, check=True).stdout.strip()
    if debian_version.split("-")[0] != meta.get("version"):
        problems.append("debian/changelog's version %s is not META.json's %s" % (debian_version, meta.get("version")))
    for directory in meta.get("no_index", {}).get("directory", []):
        if not os.path.isdir(os.path.join(REPO, directory)):
            problems.append("no_index names %s/, which does not exist" % directory)

    placeholders = sorted({u for u in re.findall(r'"(https?://[^"]*)"', json.dumps(meta.get("resources", {})))
                           if ".invalid" in u})
    if placeholders:
        print("pgxn_meta: note: resources are placeholders until the project is published: "
              + ", ".join(placeholders))

    return report("pgxn_meta", problems,
                  "META.json is valid (PGXN meta-spec 1.0.0, python3-jsonschema %s), %d broken copies "
                  "rejected, agrees with defender_fdw.control %s and debian/changelog %s"
                  % (importlib.metadata.version("jsonschema"), rejected, default_version, debian_version))


if __name__ == "__main__":
    sys.exit(main())
