"""Validating a customer file the way a pandas notebook would: read it whole, check each rule
with vectorised string operations, count the invalid rows.

Usage: pandas_validate.py FILE.csv  -> prints one JSON line with MB/s and peak RSS.
The rules are the project's CSV contract (docs/contract.md), as far as pandas
expresses them in a few lines: attributes required for upserts and at most 256 characters,
integer id, one '@' and a dotted domain, an RFC 3339 UTC time, op U or D.
"""

import json
import os
import resource
import sys
import time

import pandas as pd


def main() -> None:
    path = sys.argv[1]
    size = os.path.getsize(path)
    started = time.perf_counter()
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    upsert = frame["op"] == "U"
    bad = pd.Series(False, index=frame.index)
    # A delete needs only the id and the time; an upsert needs every attribute.
    for column in ["first_name", "last_name", "email", "street", "city", "state", "country"]:
        bad |= upsert & (frame[column].str.len() == 0)
        bad |= frame[column].str.len() > 256
    bad |= ~frame["customer_id"].str.fullmatch(r"[1-9][0-9]{0,15}")
    has_email = frame["email"].str.len() > 0
    bad |= has_email & ~frame["email"].str.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+")
    bad |= pd.to_datetime(frame["updated_at"], format="%Y-%m-%dT%H:%M:%SZ", errors="coerce").isna()
    bad |= ~frame["op"].isin(["U", "D"])
    invalid = int(bad.sum())
    seconds = time.perf_counter() - started
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"tool": "python-pandas", "bytes": size, "rows": len(frame),
                      "invalid_rows": invalid, "seconds": round(seconds, 3),
                      "mb_per_second": round(size / seconds / 1e6, 1),
                      "peak_rss_mib": round(peak_mib, 1)}))


if __name__ == "__main__":
    main()
