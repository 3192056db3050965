#!/usr/bin/env python3
"""Every C++ block of README.md and docs/*.md is code a test compiles.

A ```cpp block must follow a marker line, either
    <!-- code: FILE -->         the block's lines appear in FILE (under the repository) as
                                written, in a row (indentation of the block as a whole aside),
or  <!-- README test: NAME -->  tests/readme_install.sh writes the block to NAME and builds it.
A block of another language may carry a code marker too; then it is checked the same way.
Usage: docs_code.py ROOT. Prints one line per problem and fails if there is any."""
import pathlib
import re
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).resolve().parent.parent)
pages = [root / "README.md"] + sorted((root / "docs").glob("*.md"))
marker = re.compile(r"^\s*<!-- (code|README test): (\S+) -->$")
fence = re.compile(r"^(\s*)```(\S*)\s*$")
problems, checked = [], 0


def contains(lines, block):
    n = len(block)
    return any(lines[s:s + n] == block for s in range(len(lines) - n + 1))


for page in pages:
    text = page.read_text().split("\n")
    rel = page.relative_to(root)
    i = 0
    while i < len(text):
        m = fence.match(text[i])
        if not m or not m.group(2):
            i += 1
            continue
        indent, lang, start = m.group(1), m.group(2), i
        end = start + 1
        while end < len(text) and not re.match(r"^\s*```\s*$", text[end]):
            end += 1
        if end == len(text):
            problems.append(f"{rel}:{start + 1}: a ```{lang} block that never ends")
            break
        block = [line[len(indent):] if line.startswith(indent) else line for line in text[start + 1:end]]
        mk = marker.match(text[start - 1]) if start > 0 else None
        if mk and mk.group(1) == "code":
            source = root / mk.group(2)
            if not source.is_file():
                problems.append(f"{rel}:{start + 1}: the marker names {mk.group(2)}, which does not exist")
            else:
                lines = source.read_text().split("\n")
                # The block as written, or with the indentation it has in the file stripped.
                ok = contains(lines, block)
                if not ok:
                    for k in range(1, 17):
                        if contains([ln[k:] if ln.startswith(" " * k) else ln for ln in lines], block):
                            ok = True
                            break
                if not ok:
                    problems.append(f"{rel}:{start + 1}: this block is not in {mk.group(2)} as written")
            checked += 1
        elif mk:
            checked += 1  # tests/readme_install.sh builds it
        elif lang == "cpp":
            problems.append(f"{rel}:{start + 1}: a C++ block without a <!-- code: FILE --> marker "
                            "(put the code in a file a test compiles and name it)")
        i = end + 1

for p in problems:
    print(p)
print(f"docs_code: {checked} marked blocks in {len(pages)} pages, {len(problems)} problems")
sys.exit(1 if problems or checked == 0 else 0)
