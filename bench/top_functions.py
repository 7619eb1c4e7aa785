#!/usr/bin/env python3
"""Top functions by self cost from `callgrind_annotate --threshold=100` output.

callgrind_annotate lists inlined code under the file it came from
("basic_string.h:Foo()" and "foo.cc:Foo()" separately); this sums the rows of
one function so the list reads as "where the instructions go".

usage: callgrind_annotate --threshold=100 --auto=no FILE | top_functions.py REQUESTS [N]
"""
import re
import sys

requests = int(sys.argv[1])
limit = int(sys.argv[2]) if len(sys.argv) > 2 else 25
row = re.compile(r"^\s*([\d,]+) \(\s*[\d.]+%\)\s+(\S.*)$")
totals = {}
grand = 0
listing = False
for line in sys.stdin:
    if "file:function" in line:
        listing = True
        continue
    if listing and line.startswith("The following") or "Auto-annotated source" in line:
        break
    match = row.match(line)
    if not match:
        continue
    cost = int(match.group(1).replace(",", ""))
    name = match.group(2)
    if not listing:
        if "PROGRAM TOTALS" in name:
            grand = cost
        continue
    name = re.sub(r" \[[^\]]*\]$", "", name)           # the object file
    name = re.sub(r"^\S*?[^:\s]:(?!:)", "", name, 1)    # the source file
    totals[name] = totals.get(name, 0) + cost
print(f"{'Ir/request':>11} {'share':>6}  function")
for name, cost in sorted(totals.items(), key=lambda kv: -kv[1])[:limit]:
    share = 100.0 * cost / grand if grand else 0.0
    print(f"{cost / requests:11.0f} {share:5.1f}%  {name[:200]}")
