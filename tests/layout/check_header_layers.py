#!/usr/bin/python3
"""The public headers' layers, checked: no header in engine/include/optout includes one above it.

From the bottom up (README, "Where things are"); a header may include its own layer and those
below. A header missing from LAYERS fails the check, so a new header is given its place.

  check_header_layers.py ENGINE_INCLUDE_DIR
"""
import re
import sys
from pathlib import Path

LAYERS = [
    {"export", "version", "status"},
    {"io"},
    {"signing"},
    {"nhs_number"},
    {"registry"},
    {"policy"},
    {"index"},
    {"impact", "filter", "numbers", "pieces", "list_export", "pseudonym"},
    {"audit"},
    {"commit"},
    {"run"},
    {"verify"},
    {"optout"},  # everything, in one include
]
INCLUDE = re.compile(r'^\s*#\s*include\s+"optout/([a-z_]+)\.hpp"', re.M)


def layer_of(name):
    for level, names in enumerate(LAYERS):
        if name in names:
            return level
    return None


def problems(folder):
    found = []
    headers = sorted(folder.glob("*.hpp"))
    if not headers:
        found.append(f"{folder}: no headers")
    for header in headers:
        level = layer_of(header.stem)
        if level is None:
            found.append(f"{header.name}: not in a layer (add it to LAYERS in {Path(__file__).name})")
            continue
        for included in INCLUDE.findall(header.read_text()):
            other = layer_of(included)
            if other is None:
                found.append(f"{header.name}: includes {included}.hpp, which is not in a layer")
            elif other > level:
                found.append(f"{header.name}: includes {included}.hpp, a higher layer")
    return found


def main(argv):
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    found = problems(Path(argv[1]))
    for problem in found:
        print(problem, file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
