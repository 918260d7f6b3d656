#!/usr/bin/env python3
"""The README's settings table and the settings table in src/config.c say the
same thing: the same names in the same order, the same defaults, and the same
answer to "may it come from the app's .env".

  scripts/check-readme-settings.py          check; exits 1 and names each difference
  scripts/check-readme-settings.py --rows   print the rows config.c implies (names,
                                            defaults, .env) for writing the README

The README table sits under the heading "### Settings" and has the columns
Setting | Default | .env | Accepted forms | Meaning; a setting without a
default shows (none)."""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
CONFIG_C = os.path.join(ROOT, "src", "config.c")
README = os.path.join(ROOT, "README.md")

# INFO("NAME", "type", "default", forms..., help..., secret, app) in TABLE.
INFO = re.compile(r'INFO\(\s*"([^"]+)"\s*,\s*"([^"]*)"\s*,\s*"([^"]*)"(.*?),\s*(true|false)\s*,'
                  r'\s*(true|false)\s*\)', re.S)


def config_rows():
    text = open(CONFIG_C, encoding="utf-8").read()
    start = text.find("static const setting TABLE[]")
    end = text.find("};", start)
    if start < 0 or end < 0:
        sys.exit(f"{CONFIG_C}: no settings TABLE found")
    rows = [(m.group(1), m.group(3), m.group(6) == "true")
            for m in INFO.finditer(text[start:end])]
    if not rows:
        sys.exit(f"{CONFIG_C}: no INFO(...) entries in TABLE")
    return rows


def readme_rows():
    lines = open(README, encoding="utf-8").read().split("\n")
    try:
        at = lines.index("### Settings")
    except ValueError:
        sys.exit(f"{README}: no '### Settings' heading")
    rows, in_table = [], False
    for i, line in enumerate(lines[at + 1:], start=at + 2):
        if line.startswith("#"):
            break
        if not line.startswith("|"):
            if in_table:
                break
            continue
        in_table = True
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 5:
            sys.exit(f"README.md:{i}: a settings row needs 5 cells, has {len(cells)}")
        if cells[0] == "Setting" or set(cells[0]) <= set("-: "):
            continue
        name = cells[0].strip("`")
        dflt = "" if cells[1] == "(none)" else cells[1].strip("`")
        if cells[2] not in ("yes", "no"):
            sys.exit(f"README.md:{i}: the .env cell of {name} is '{cells[2]}', not yes or no")
        rows.append((name, dflt, cells[2] == "yes", i))
    if not rows:
        sys.exit(f"{README}: the table under '### Settings' has no rows")
    return rows


def main():
    code = config_rows()
    if "--rows" in sys.argv[1:]:
        for name, dflt, app in code:
            print(f"| `{name}` | {f'`{dflt}`' if dflt else '(none)'} | {'yes' if app else 'no'} | | |")
        return 0
    doc = readme_rows()
    problems = []
    code_names = [r[0] for r in code]
    doc_names = [r[0] for r in doc]
    for name in code_names:
        if name not in doc_names:
            problems.append(f"README.md: {name} (src/config.c) is missing from the settings table")
    by_name = {r[0]: r for r in code}
    for name, dflt, app, line in doc:
        if name not in by_name:
            problems.append(f"README.md:{line}: {name} is not a setting in src/config.c")
            continue
        _, want_dflt, want_app = by_name[name]
        if dflt != want_dflt:
            problems.append(f"README.md:{line}: {name} default is '{dflt}', src/config.c says "
                            f"'{want_dflt}'")
        if app != want_app:
            problems.append(f"README.md:{line}: {name} .env is {'yes' if app else 'no'}, "
                            f"src/config.c says {'yes' if want_app else 'no'}")
    if not problems and doc_names != code_names:
        problems.append("README.md: the settings are not in the order of src/config.c: "
                        + ", ".join(code_names))
    for p in problems:
        print(p)
    print(f"settings: {len(code)} in src/config.c, {len(doc)} in README.md, "
          f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
