#!/usr/bin/env python3
"""No call cycle between the files, nor between the folders, of src/.

Reads the object files of a build (nm): a file depends on another when it
calls a function or uses a variable the other defines.  defender_fdw.h
lists the layers top to bottom; a cycle (auth.c calling connection.c
calling auth.c, or a folder calling one that calls it back) means the
layering no longer holds.  Prints each cycle and exits 1.

usage: no_call_cycles.py REPO_DIR   (after make)
"""
import glob
import os
import subprocess
import sys


def strongly_connected(graph):
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


def main():
    repo = sys.argv[1]
    sources = sorted(glob.glob(os.path.join(repo, "src", "*", "*.c")))
    sources.append(os.path.join(repo, "defender_fdw.c"))
    defined, used = {}, {}
    for src in sources:
        obj = src[:-2] + ".o"
        name = os.path.relpath(src, repo)
        if not os.path.exists(obj):
            print("no_call_cycles: %s is not built (run make first)" % obj)
            return 1
        out = subprocess.run(["nm", obj], capture_output=True, text=True, check=True).stdout
        used[name] = set()
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1] in "TDBR":
                defined[parts[2]] = name
            elif len(parts) == 2 and parts[0] == "U":
                used[name].add(parts[1])
    files = {n: {defined[s] for s in u if s in defined and defined[s] != n} for n, u in used.items()}
    folders = {}
    for n, callees in files.items():
        a = os.path.dirname(n) or "."
        folders.setdefault(a, set()).update(
            os.path.dirname(c) or "." for c in callees if (os.path.dirname(c) or ".") != a)
    problems = ["files call each other in a cycle: " + " <-> ".join(c) for c in strongly_connected(files)]
    problems += ["folders call each other in a cycle: " + " <-> ".join(c) for c in strongly_connected(folders)]
    for p in problems:
        print("no_call_cycles: " + p)
    if problems:
        return 1
    print("no_call_cycles: %d files in %d folders, no call cycle" % (len(files), len(folders)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
