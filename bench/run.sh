#!/usr/bin/env bash
# Reproduces the figures in docs/performance.md on this machine: the generator and validator
# benchmarks, the end-to-end local throughput through `pipectl dev`, and the tutorial's Python
# approach (Faker, pandas) on the same machine. Prints one line per figure.
#   bash bench/run.sh            # everything; the first release build compiles DuckDB again
#                                # (54 min on 2 cores, 2026-12-02; docs/development.md)
#   bash bench/run.sh quick      # skips criterion
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/customer-pipeline/target}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
step() { printf '\n==> %s\n' "$*"; }
peak() { # command... -> "<seconds> s, peak RSS <MiB> MiB"
  /usr/bin/time -f '%e %M' -o "$work/time" "$@" > /dev/null
  awk '{ printf "%.2f s, peak RSS %.1f MiB\n", $1, $2 / 1024 }' "$work/time"
}

echo "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(uname -m), $(rustc --version)"

if [ "${1:-}" != quick ]; then
  step "criterion: generator and validator (one core)"
  cargo bench -p pipeline --bench generate
  cargo bench -p pipeline --bench validate
fi

step "release build of pipectl"
cargo build --release --locked
pipectl="$CARGO_TARGET_DIR/release/pipectl"

step "1,000,000 rows: Rust (pipectl generate, validate)"
echo "generate: $(peak "$pipectl" generate --rows 1000000 --id-space 2000000 --out "$work/rust.csv")"
echo "validate: $(peak "$pipectl" validate "$work/rust.csv")  ($(stat -c %s "$work/rust.csv") bytes)"

step "1,000,000 rows: the tutorial's Python (Faker, pandas)"
venv="$(dirname "$CARGO_TARGET_DIR")/venv-bench-python"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r bench/python/requirements.txt
fi
"$venv/bin/python" bench/python/faker_generate.py 100000 "$work/python.csv"
"$venv/bin/python" bench/python/pandas_validate.py "$work/rust.csv"

step "end to end: pipectl dev on the stand-ins, 60 s, a 10,000-row file every 0.5 s"
"$pipectl" dev --duration 60 --every 0.5 --rows 10000 --state "$work/dev" --json > "$work/dev.json"
python3 - "$work/dev.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
c, t, s = r["counts"], r["tables"], r["seconds"]
print(f"{c['files_loaded']} files loaded in {s:.0f} s = {c['files_loaded'] / s * 60:.0f} files/min, "
      f"{t['raw_rows'] / s:,.0f} rows/s into CUSTOMER_RAW; CUSTOMER {t['customers']}, "
      f"history {t['history_versions']}; guarantees {'held' if all(k['passed'] for k in r['checks']) else 'FAILED'}")
PY

step "soak: pipectl dev --chaos for ${SOAK_SECONDS:=600} s"
"$pipectl" dev --chaos --duration "$SOAK_SECONDS" --every 1 --rows 1000 --state "$work/soak" --json > "$work/soak.json" || true
python3 - "$work/soak.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
c, f = r["counts"], r["counts"]["faults"]
print(json.dumps({"seconds": round(r["seconds"]), "files": c["files_generated"], "loaded": c["files_loaded"],
                  "rows_raw": r["tables"]["raw_rows"], "faults": f, "ingest_failures_redelivered": c["files_failed_ingest"],
                  "reconciled": c["files_reconciled"], "quarantined": c["files_quarantined"],
                  "task_runs_failed": c["task_runs_failed"], "alerts": c["alerts_raised"]}, indent=1))
for check in r["checks"]:
    print(("ok  " if check["passed"] else "FAIL"), check["guarantee"], "-", check["detail"])
PY
