#!/usr/bin/env python3
"""Every metric the shipped dashboard and alert rules query is one Kiln exports.

    metric_names_test.py SOURCE_DIR

promtool and json.tool check only syntax: a dashboard panel or an alert on a misspelt or
renamed metric passes them and then shows nothing, or never fires. Here each kiln_* name in a
Grafana `expr` or a rule's `expr:` (without the _bucket/_sum/_count a histogram adds) must be
registered somewhere in src/ as a string literal. Exit 1 naming each one that is not.
"""
import json, pathlib, re, sys

root = pathlib.Path(sys.argv[1])
exprs = []


def walk(node):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "expr" and isinstance(v, str):
                exprs.append(("config/grafana/kiln-dashboard.json", v))
            else:
                walk(v)
    elif isinstance(node, list):
        for v in node:
            walk(v)


walk(json.loads((root / "config/grafana/kiln-dashboard.json").read_text()))
for line in (root / "config/prometheus/kiln-alerts.yml").read_text().splitlines():
    m = re.match(r"\s*expr:\s*(.*)", line)
    if m:
        exprs.append(("config/prometheus/kiln-alerts.yml", m.group(1)))
if not exprs:
    sys.exit("no expressions found: the files' shape changed, fix this test")

registered = set()
for path in list((root / "src").rglob("*.cpp")) + list((root / "src").rglob("*.hpp")):
    registered.update(re.findall(r'"(kiln_[a-z0-9_]+)"', path.read_text(errors="replace")))

missing = []
for where, expr in exprs:
    for name in re.findall(r"\bkiln_[a-z0-9_]+", expr):
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        if name not in registered and base not in registered:
            missing.append(f"{where}: {name} (in: {expr})")
if missing:
    print("metrics queried but never exported:\n  " + "\n  ".join(missing))
    sys.exit(1)
print(f"{len(exprs)} expressions, every kiln_* metric they name is exported")
