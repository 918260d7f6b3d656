#!/usr/bin/env python3
"""The structure of src/, checked: folders depend downward only, no function
is over 120 lines, no HTTP status number appears below src/http/, and the
README's Layout section matches the tree.

  scripts/check-structure.py [layers|functions|http-literals|readme-layout]...   (default: all)

A unit is a folder under src/ (src/store/, src/http/, ...) or a file directly
in src/ (engine.c with engine.h is the unit "engine"). Each unit has a rank;
a unit may include its own headers and those of units of a lower rank only,
which also rules out every cycle. Exits 1 and names each violation."""
import os
import re
import sys

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")

# Bottom to top. Units on one line are peers: they must not include each other.
LAYERS = [
    ["core"],
    ["manifest", "schema", "store"],
    ["config", "registry", "trace", "metrics"],
    ["engine"],
    ["runtime"],
    ["delivery"],
    ["http"],
    ["daemon"],
    ["cli"],
    ["main"],
]
RANK = {u: i for i, layer in enumerate(LAYERS) for u in layer}
MAX_FUNCTION_LINES = 120
NO_HTTP_STATUS = ["core", "manifest", "schema", "store", "registry", "runtime"]
HTTP_STATUSES = {200, 201, 202, 203, 204, 206, 301, 302, 303, 304, 307, 308, 400, 401,
                 402, 403, 404, 405, 406, 408, 409, 410, 411, 412, 413, 414, 415, 416, 417, 418,
                 421, 422, 425, 426, 428, 429, 431, 451, 500, 501, 502, 503, 504, 505, 507, 511}


def sources():
    for root, _dirs, files in os.walk(SRC):
        for f in sorted(files):
            if f.endswith((".c", ".h")):
                yield os.path.relpath(os.path.join(root, f), SRC)


def unit_of(rel):
    parts = rel.split("/")
    if len(parts) > 1:
        return parts[0]
    return os.path.splitext(parts[0])[0]


def strip_comments(text, strings=True):
    """Comments (and string literals unless strings=False) blanked, line
    breaks kept."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            body = text[i + 1:j]
            out.append(c + (re.sub(r"[^\n]", " ", body) if strings else body) + c)
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def check_layers():
    problems = []
    for rel in sources():
        src_unit = unit_of(rel)
        if src_unit not in RANK:
            problems.append(f"src/{rel}: unit '{src_unit}' has no layer in {__file__}")
            continue
        with open(os.path.join(SRC, rel), encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                m = re.match(r'\s*#\s*include\s+"([^"]+)"', line)
                if not m:
                    continue
                target = m.group(1)
                if not os.path.exists(os.path.join(SRC, target)):
                    continue  # generated or test-only header
                dst_unit = unit_of(target)
                if dst_unit == src_unit:
                    continue
                if dst_unit not in RANK:
                    problems.append(f"src/{rel}:{lineno}: includes {target} of unknown unit")
                elif RANK[dst_unit] >= RANK[src_unit]:
                    how = "a peer" if RANK[dst_unit] == RANK[src_unit] else "a higher layer"
                    problems.append(f"src/{rel}:{lineno}: {src_unit} includes {target} of "
                                    f"{how} ({dst_unit})")
    return problems


def check_functions():
    """Functions as this codebase writes them: the signature from column 0,
    the opening brace alone on the next line, the closing one at column 0."""
    problems = []
    for rel in sources():
        if not rel.endswith(".c"):
            continue
        with open(os.path.join(SRC, rel), encoding="utf-8") as f:
            lines = strip_comments(f.read()).split("\n")
        for i, line in enumerate(lines):
            if line.rstrip() != "{" or i == 0:
                continue
            s = i - 1  # back to the first line of the signature
            while s > 0 and lines[s][:1] in (" ", "\t") and i - s < 8:
                s -= 1
            names = re.findall(r"([A-Za-z_]\w*)\s*\(", " ".join(lines[s:i]))
            k = i + 1
            while k < len(lines) and not lines[k].startswith("}"):
                k += 1
            length = k - s + 1
            if names and length > MAX_FUNCTION_LINES:
                problems.append(f"src/{rel}:{s + 1}: {names[0]}() is {length} lines "
                                f"(at most {MAX_FUNCTION_LINES})")
    return problems


def check_http_literals():
    problems = []
    for rel in sources():
        if unit_of(rel) not in NO_HTTP_STATUS:
            continue
        with open(os.path.join(SRC, rel), encoding="utf-8") as f:
            lines = strip_comments(f.read(), strings=False).split("\n")
        for lineno, line in enumerate(lines, 1):
            if re.match(r"\s*#\s*define\s+\w+\s+\(?\d+", line):
                continue  # a named constant says what it is
            code = re.sub(r"\[\s*\d+\s*\]", "[]", line)  # array sizes
            for m in re.finditer(r"(?<![\w.])(\d{3})(?![\w.])", code):
                if int(m.group(1)) in HTTP_STATUSES:
                    problems.append(f"src/{rel}:{lineno}: HTTP status {m.group(1)} outside "
                                    "src/http/ (return an evk_status; http maps it)")
    return problems


def check_readme_layout():
    """The README's Layout block names every folder and top-level file of
    src/ (main.c aside), and every src/ path it names exists."""
    readme = os.path.join(SRC, "..", "README.md")
    with open(readme, encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"^## Layout\n+```\n(.*?)```", text, re.S | re.M)
    if not m:
        return ["README.md: no '## Layout' section with a code block"]
    block = m.group(1)
    problems = []
    named = set(re.findall(r"\bsrc/([\w./-]+)", block))
    for entry in sorted(os.listdir(SRC)):
        full = os.path.join(SRC, entry)
        if entry == "main.c" or entry.endswith(".h") and os.path.exists(full[:-2] + ".c"):
            continue
        key = entry + "/" if os.path.isdir(full) else entry
        if not any(n == key or n.rstrip("/") == entry for n in named):
            problems.append(f"README.md Layout: src/{key} is not described")
    for n in sorted(named):
        if not os.path.exists(os.path.join(SRC, n)):
            problems.append(f"README.md Layout: src/{n} does not exist")
    return problems


CHECKS = {"layers": check_layers, "functions": check_functions,
          "http-literals": check_http_literals, "readme-layout": check_readme_layout}


def main(argv):
    names = argv or list(CHECKS)
    failed = False
    for name in names:
        if name not in CHECKS:
            print(f"unknown check {name}; one of {', '.join(CHECKS)}", file=sys.stderr)
            return 2
        problems = CHECKS[name]()
        for p in problems:
            print(p)
        print(f"{name}: {'ok' if not problems else f'{len(problems)} problem(s)'}")
        failed |= bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
