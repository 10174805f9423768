#!/usr/bin/python3
"""Test helper for check_generator.sh: reads optout-gen extracts with a strict RFC 4180 tokenizer.

This is a test reference, deliberately tiny and independent of the engine's CSV scanner.

  inspect_extract.py records FILE [--delimiter D]     print the number of data records; fail if
                                                      a record's field count differs from the header's
  inspect_extract.py share FILE LIST [--column NAME]  print the share of records whose NHS number
                                                      (plain 10 digits) is in LIST (text or .dat)
  inspect_extract.py partition FILE DENY ALLOW        fail unless every record's number is in exactly
                                                      one of DENY and ALLOW
  inspect_extract.py dirty FILE                       fail unless every kind of dirty-mode mess occurs
"""
import argparse
import csv
import io
import re
import sys

BOM = b"\xef\xbb\xbf"


class Field:
    __slots__ = ("text", "quoted")

    def __init__(self, text, quoted):
        self.text = text
        self.quoted = quoted


def tokenize(data, delimiter=","):
    """Yields (fields, ending) per record; ending is "\\n", "\\r\\n" or "" (end of file).

    Raises ValueError on anything RFC 4180 forbids: a quote inside an unquoted field, text after a
    closing quote, an unterminated quoted field, a bare CR outside quotes.
    """
    d = delimiter.encode()
    unquoted = re.compile(b"[^" + re.escape(d) + b'\r\n"]*')
    i, n = 0, len(data)
    fields = []
    while i < n:
        if data[i] == ord('"'):
            j = i + 1
            buf = bytearray()
            while True:
                k = data.find(b'"', j)
                if k < 0:
                    raise ValueError(f"unterminated quoted field at byte {i}")
                buf += data[j:k]
                if data[k + 1:k + 2] == b'"':
                    buf += b'"'
                    j = k + 2
                    continue
                i = k + 1
                break
            fields.append(Field(buf.decode("utf-8"), True))
        else:
            j = unquoted.match(data, i).end()
            if j < n and data[j] == ord('"'):
                raise ValueError(f"quote inside unquoted field at byte {j}")
            fields.append(Field(data[i:j].decode("utf-8"), False))
            i = j
        if i >= n:
            yield fields, ""
            return
        c = data[i:i + 1]
        if c == d:
            i += 1
            if i >= n:  # a delimiter at the very end: one more, empty field
                fields.append(Field("", False))
                yield fields, ""
                return
            continue
        if c == b"\r" and data[i + 1:i + 2] == b"\n":
            yield fields, "\r\n"
            i += 2
        elif c == b"\n":
            yield fields, "\n"
            i += 1
        elif c == b"\r":
            raise ValueError(f"bare CR at byte {i}")
        else:
            raise ValueError(f"text after closing quote at byte {i}")
        fields = []


def read(path, delimiter=","):
    with open(path, "rb") as f:
        data = f.read()
    bom = data.startswith(BOM)
    if bom:
        data = data[len(BOM):]
    records = list(tokenize(data, delimiter))
    return bom, data, records


def check_digit(stem9):
    total = sum(int(c) * w for c, w in zip(stem9, range(10, 1, -1)))
    check = 11 - total % 11
    return 0 if check == 11 else check


def is_valid(number):
    if len(number) != 10 or not number.isdigit():
        return False
    c = check_digit(number[:9])
    return c != 10 and c == int(number[9])


def load_list(path):
    numbers = set()
    with open(path) as f:
        for line in f:
            numbers.add(line.strip().rstrip(","))
    return numbers


def cmd_records(args):
    _, data, records = read(args.file, args.delimiter)
    header = records[0][0]
    for index, (fields, _) in enumerate(records):
        if len(fields) != len(header):
            sys.exit(f"record {index}: {len(fields)} fields, header has {len(header)}")
    # Cross-check with Python's csv module, which must agree on the record count.
    text = data.decode("utf-8")
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=args.delimiter, strict=True))
    if len(rows) != len(records):
        sys.exit(f"csv module reads {len(rows)} records, tokenizer {len(records)}")
    print(len(records) - 1)


def nhs_column(records, name):
    return [f.text for f in records[0][0]].index(name)


def cmd_share(args):
    _, _, records = read(args.file)
    col = nhs_column(records, args.column)
    listed = load_list(args.list)
    rows = records[1:]
    hits = sum(1 for fields, _ in rows if fields[col].text in listed)
    print(f"{hits / len(rows):.4f}")


def cmd_partition(args):
    _, _, records = read(args.file)
    col = nhs_column(records, "nhs_number")
    deny, allow = load_list(args.deny), load_list(args.allow)
    for index, (fields, _) in enumerate(records[1:], start=1):
        number = fields[col].text
        if (number in deny) == (number in allow):
            sys.exit(f"record {index}: number in {'both lists' if number in deny else 'neither list'}")
    print(len(records) - 1)


def classify_nhs(field):
    t = field.text
    if t == "":
        return "missing"
    if field.quoted and t != t.strip():
        return "quoted_padded"
    if t != t.strip():
        return "padded"
    if field.quoted:
        return "quoted" if is_valid(t) else "quoted_other"
    if len(t) == 12 and t[3] == t[7] == " ":
        return "spaced"
    if len(t) == 12 and t[3] == t[7] == "-":
        return "dashed"
    if len(t) == 12 and t[3] == t[7] == ".":
        return "dotted"
    if len(t) == 9 and t.isdigit():
        return "nine_digits"
    if len(t) == 10 and t.isdigit():
        return "plain" if is_valid(t) and t != "9999999999" else (
            "placeholder" if t == "9999999999" else "wrong_check")
    if t in ("UNKNOWN", "N/A"):
        return "placeholder"
    return "other"


def cmd_dirty(args):
    bom, data, records = read(args.file)
    col = nhs_column(records, "nhs_number")
    notes = nhs_column(records, "notes")
    seen = {}

    def saw(kind):
        seen[kind] = seen.get(kind, 0) + 1

    if bom:
        saw("bom")
    if not data.endswith(b"\n"):
        saw("no_final_newline")
    for fields, ending in records[1:]:
        saw({"\n": "lf_ending", "\r\n": "crlf_ending", "": "eof"}[ending])
        saw("nhs_" + classify_nhs(fields[col]))
        note = fields[notes]
        if note.quoted:
            if "," in note.text:
                saw("quoted_comma")
            if '"' in note.text:
                saw("doubled_quote")
            if "\r\n" in note.text:
                saw("crlf_in_quotes")
            if "\n" in note.text.replace("\r\n", ""):
                saw("lf_in_quotes")
    wanted = ["bom", "no_final_newline", "lf_ending", "crlf_ending", "quoted_comma", "doubled_quote",
              "crlf_in_quotes", "lf_in_quotes"] + ["nhs_" + k for k in (
                  "plain", "spaced", "dashed", "dotted", "wrong_check", "missing", "nine_digits",
                  "quoted", "padded", "quoted_padded", "placeholder")]
    for kind in sorted(seen):
        print(f"{kind} {seen[kind]}")
    missing = [k for k in wanted if k not in seen]
    unexpected = [k for k in ("nhs_other", "nhs_quoted_other") if k in seen]
    if missing or unexpected:
        sys.exit(f"missing: {missing}; unexpected: {unexpected}")


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("records")
    p.add_argument("file")
    p.add_argument("--delimiter", default=",")
    p.set_defaults(run=cmd_records)
    p = sub.add_parser("share")
    p.add_argument("file")
    p.add_argument("list")
    p.add_argument("--column", default="nhs_number")
    p.set_defaults(run=cmd_share)
    p = sub.add_parser("partition")
    p.add_argument("file")
    p.add_argument("deny")
    p.add_argument("allow")
    p.set_defaults(run=cmd_partition)
    p = sub.add_parser("dirty")
    p.add_argument("file")
    p.set_defaults(run=cmd_dirty)
    args = parser.parse_args()
    if getattr(args, "delimiter", ",") == "tab":
        args.delimiter = "\t"
    try:
        args.run(args)
    except ValueError as e:
        sys.exit(f"{args.file}: {e}")


if __name__ == "__main__":
    main()
