"""The anti-join a pandas user would write, for the end-to-end benchmark (bench/e2e/e2e.py).

Keeps the rows of EXTRACT whose COLUMN is not in LIST (a one-column CSV whose header is
nhs_number) and writes them as CSV with a header to OUT, in input order. Every column is read as
text (dtype=str) so that leading zeros survive, and na_filter=False keeps empty fields and words
such as "NA" as the text they are instead of turning them into NaN.

Usage: /usr/bin/python3 pandas_antijoin.py EXTRACT LIST COLUMN OUT
"""
import sys

import pandas as pd


def main(argv: list[str]) -> int:
    if len(argv) != 5:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    extract, opt_out_list, column, out = argv[1:]
    rows = pd.read_csv(extract, dtype=str, na_filter=False)
    opted_out = pd.read_csv(opt_out_list, dtype=str, na_filter=False)["nhs_number"]
    rows[~rows[column].isin(opted_out)].to_csv(out, index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
