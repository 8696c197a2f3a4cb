"""The tutorial's way of making customer files: Faker, one row at a time, csv.writer.

Usage: faker_generate.py ROWS OUT.csv  -> prints one JSON line with rows/s and peak RSS.
Written for the comparison in bench/run.sh; it mirrors what the tutorial's notebook does
(a Faker() per process, a dict of fake fields per row) with the project's CSV columns.
"""

import csv
import json
import random
import resource
import sys
import time

from faker import Faker

COLUMNS = ["customer_id", "first_name", "last_name", "email", "street", "city",
           "state", "country", "updated_at", "op"]


def main() -> None:
    rows, out = int(sys.argv[1]), sys.argv[2]
    fake = Faker()
    Faker.seed(42)
    random.seed(42)
    started = time.perf_counter()
    with open(out, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for _ in range(rows):
            first, last = fake.first_name(), fake.last_name()
            writer.writerow([
                random.randint(1, 10_000), first, last,
                f"{first}.{last}@{fake.free_email_domain()}".lower(),
                fake.street_address(), fake.city(), fake.state(), fake.country(),
                fake.date_time_this_year().strftime("%Y-%m-%dT%H:%M:%SZ"),
                "D" if random.random() < 0.01 else "U",
            ])
    seconds = time.perf_counter() - started
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"tool": "python-faker", "rows": rows, "seconds": round(seconds, 3),
                      "rows_per_second": round(rows / seconds), "peak_rss_mib": round(peak_mib, 1)}))


if __name__ == "__main__":
    main()
