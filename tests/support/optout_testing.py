"""What the Python test suites share: tests/cli (the CLI) and bindings/python/tests (the module).

Both conftest.py files put this folder on sys.path (it is found from the source tree, whatever the
build folder), so a test module imports from here directly or through its conftest.

Independent of optout on purpose: numbers come from a tiny modulus 11 helper, so no fixture can
drift from the rule, and the message sweep's markers from the committed test vectors.
"""

import os
import re
from pathlib import Path

# ---- NHS numbers ----------------------------------------------------------------------------------


def check_digit(stem):
    """The modulus 11 check digit of a 9-digit stem, or None when the stem has no valid number."""
    digits = f"{stem:09d}"
    total = sum(int(d) * w for d, w in zip(digits, range(10, 1, -1)))
    check = 11 - total % 11
    if check == 11:
        return 0
    return None if check == 10 else check


def nhs(stem):
    """The 10-digit NHS number of a stem with a valid check digit."""
    check = check_digit(stem)
    assert check is not None, stem
    return f"{stem:09d}{check}"


def wrong_check_digit(number):
    """The number with its check digit changed (to one that is wrong)."""
    good = int(number[9])
    return number[:9] + str((good + 1) % 10)


def spaced(number):
    """A 10-digit number printed 3-3-4 with spaces: 943 476 5919."""
    return f"{number[:3]} {number[3:6]} {number[6:]}"


def dashed(number):
    """A 10-digit number printed 3-3-4 with dashes: 943-476-5919."""
    return f"{number[:3]}-{number[3:6]}-{number[6:]}"


# ---- The message sweep's markers (test_message_sweep.py of each suite) ----------------------------


def _vectors():
    path = Path(__file__).resolve().parents[1] / "data" / "nhs_test_vectors.txt"
    out = []
    for line in path.read_text().splitlines():
        if line.startswith("valid |"):
            text = line.split("|")[1].strip()
            if len(text) == 10 and text.isdigit() and len(set(text)) > 1:  # not 0000000000, 9999999999
                out.append(text)
    return out


MARKERS = _vectors()  # MARKERS[0] is 9434765919, the data dictionary's example
WORD = "ZQXMARKER"
RUN_ID = re.compile(r'"run_id": ?"[a-z]{24}"')
assert len(MARKERS) >= 6, MARKERS


def leaks(text):
    """What markers text holds, described (never quoted): [] when it is clean."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            return ["bytes that are not UTF-8"]
    found = []
    for i, n in enumerate(MARKERS):
        for form, s in (("plain", n), ("spaced", spaced(n)), ("dashed", dashed(n)), ("stem", n[:9])):
            if s in text:
                found.append(f"marker number #{i} ({form})")
    # An audit record's run_id is 24 random letters: it holds "zqx" about once in 800 records.
    if WORD.lower()[:3] in RUN_ID.sub("", text).lower():
        found.append("marker word")
    if any((ord(c) < 0x20 and c not in "\n\t") or c == "\x7f" or c == "\ufffd" for c in text):
        found.append("control or raw bytes")
    return found


_N = MARKERS
MARKER_HEADER = f"record_id,nhs_number,{WORD}_name,date_of_birth_{WORD},notes {_N[4]}"
MARKER_ROWS = [
    f'1,{_N[0]},{WORD} Smith,{WORD}-1984-03-02,"{WORD} free text, see {spaced(_N[1])}"',
    f'2,{spaced(_N[1])},Jones {WORD},1990-01-01 {WORD},"{dashed(_N[2])} {WORD}"',
    f'3,"{dashed(_N[2])}",{WORD},{_N[3]},{WORD}',
    f'4,"{_N[3]}",{_N[5]},{WORD},"a ""{WORD}"" quote"',
    f"5,{wrong_check_digit(_N[4])},{WORD},{WORD},{_N[0]}",
]


def marker_csv(header=True, rows=MARKER_ROWS, ending="\n"):
    """The marker extract as bytes: MARKER_HEADER (unless header is false), then rows."""
    lines = ([MARKER_HEADER] if header else []) + rows
    return "".join(line + ending for line in lines).encode()


# ---- The fault-injection shim (tests/fault_shim.c) ------------------------------------------------


def shim_env(shim, log=None, **fault):
    """This process's environment with the shim preloaded, set by fault (OP, PATH, AT, KIND, SIZE)."""
    env = dict(os.environ)
    # After any runtime already preloaded (ASan's, which must come first; a sanitized binary is
    # told not to insist on that).
    preload = ":".join(filter(None, [env.get("LD_PRELOAD"), str(shim)]))
    asan = ":".join(filter(None, [env.get("ASAN_OPTIONS"), "verify_asan_link_order=0"]))
    env.update(LD_PRELOAD=preload, ASAN_OPTIONS=asan, **{f"OPTOUT_FAULT_{k.upper()}": str(v) for k, v in fault.items()})
    if log is not None:
        env["OPTOUT_FAULT_LOG"] = str(log)
    return env


def fault_env(shim, fault=None, log=None):
    """os.environ, or with fault = (op, path, k, kind) given, shim_env() failing call k of op on path."""
    if fault is None:
        return dict(os.environ)
    op, path, k, kind = fault
    return shim_env(shim, log, op=op, path=path, at=k, kind=kind)
