#!/usr/bin/env bash
# AWS benchmark (not a test): `evident collect` against Prowler's nine
# equivalent checks on the same moto-served account, seeded by seed.py with N
# IAM users (the recipe of shared/bench/prowler-vs-moto; seed.py, verify.py,
# count_calls.py and shim/ are copied from it).
#
# usage: BENCH_DIR=/scratch/bench-prowler bench/aws/run.sh ["50 500 2000"] [REPS]
#
# BENCH_DIR (outside the repository) holds the two virtual environments:
#   python3 -m venv $BENCH_DIR/venv-moto
#   $BENCH_DIR/venv-moto/bin/pip install -r shared/bench/prowler-vs-moto/requirements-moto.lock.txt
#   python3 -m venv $BENCH_DIR/venv-prowler
#   $BENCH_DIR/venv-prowler/bin/pip install -r shared/bench/prowler-vs-moto/requirements-prowler.lock.txt
# and a release build: cargo build --release -p evident.
#
# For each N: reset moto and seed it (untimed), then REPS times evident and
# Prowler alternately (the order flips every repetition), each under
# /usr/bin/time -v (wall, peak RSS, CPU); moto's HTTP requests during each run
# are counted from its access log (no recorder overhead). Then one untimed
# evident run with moto's recorder on gives the calls per action. Verdicts:
# verify.py (Prowler vs seeded state) and verify_evident.py (evident vs seeded
# state, next to Prowler's counts). Results in $BENCH_DIR/evident-bench/.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
SIZES=${1:-"50 500 2000"}
REPS=${2:-2}
BENCH_DIR=${BENCH_DIR:?set BENCH_DIR to the folder holding venv-moto and venv-prowler}
PORT=${PORT:-5077}
URL=http://127.0.0.1:$PORT
W=$BENCH_DIR/evident-bench
evident=${EVIDENT:-$repo/target/release/evident}
[ -x "$evident" ] || { echo "build first: cargo build --release -p evident" >&2; exit 1; }
[ -x "$BENCH_DIR/venv-moto/bin/moto_server" ] || { echo "no $BENCH_DIR/venv-moto" >&2; exit 1; }
[ -x "$BENCH_DIR/venv-prowler/bin/prowler" ] || { echo "no $BENCH_DIR/venv-prowler" >&2; exit 1; }
mkdir -p "$W/results" "$W/out"
cd "$W"
PY=$BENCH_DIR/venv-moto/bin/python

# --- moto ------------------------------------------------------------------
MOTO_IAM_LOAD_MANAGED_POLICIES=true "$BENCH_DIR/venv-moto/bin/moto_server" -H 127.0.0.1 -p "$PORT" > moto.log 2>&1 &
MOTO_PID=$!
trap 'kill $MOTO_PID 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf -o /dev/null "$URL/moto-api/" && break; sleep 0.2; done
moto_requests() { grep -cE '" [0-9]{3} -' moto.log || true; }
moto_cpu() { awk '{printf "%.2f", ($14+$15)/100}' /proc/$MOTO_PID/stat; }

# The benchmark credentials are moto's: any value is accepted.
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1
export AWS_CONFIG_FILE=/nonexistent/aws-config AWS_SHARED_CREDENTIALS_FILE=/nonexistent/aws-credentials
export AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_SESSION_TOKEN

# max_attempts = 1: moto answers the calls it does not implement
# (iam:ListOrganizationsFeatures) with HTTP 500, which the SDK's standard
# strategy retries with backoff; on AWS the call answers. EVIDENT_ATTEMPTS=3
# measures the shipped default instead.
cat > evident.toml <<EOF
# The account of the default credential chain (moto's 123456789012), through moto.
[[collectors.aws]]
name = "bench"
endpoint_url = "$URL"
max_attempts = ${EVIDENT_ATTEMPTS:-1}

[[collectors.aws.accounts]]
EOF

# One timed run of a tool; prints the results line.
measure() { # TOOL TAG
  local tool=$1 tag=$2 l0 l1 c0 c1 rc=0
  l0=$(moto_requests); c0=$(moto_cpu)
  if [ "$tool" = evident ]; then
    rm -rf "data-$tag"
    /usr/bin/time -v -o "results/time-evident-$tag.txt" \
      "$evident" --config evident.toml --data-dir "data-$tag" collect --format json \
      > "out/evident-$tag.json" 2> "results/evident-stderr-$tag.txt" || rc=$?
    rm -rf "data-$tag"
  else
    rm -rf "out/prowler-$tag"; mkdir -p "out/prowler-$tag"
    AWS_ENDPOINT_URL=$URL PYTHONPATH=$here/shim /usr/bin/time -v -o "results/time-prowler-$tag.txt" \
      "$BENCH_DIR/venv-prowler/bin/prowler" aws --checks $(cat "$here/checks.txt") -f us-east-1 \
        --output-formats csv json-ocsf -o "out/prowler-$tag" \
        --no-banner --no-color --log-level ERROR --log-file "out/prowler-$tag/prowler-errors.log" \
        > "results/prowler-stdout-$tag.txt" 2>&1 || rc=$?
  fi
  l1=$(moto_requests); c1=$(moto_cpu)
  echo "tool=$tool tag=$tag rc=$rc moto_http_requests=$((l1 - l0)) moto_cpu_s=$(echo "$c1 - $c0" | bc)" \
    | tee "results/requests-$tool-$tag.txt"
  grep -E 'Elapsed|Maximum resident' "results/time-$tool-$tag.txt"
}

echo "load before: $(uptime)" | tee results/load.txt
for N in $SIZES; do
  echo "=== N=$N: seeding"
  "$PY" "$here/seed.py" "$N" --endpoint "$URL" --expected "expected-$N.json" > "results/seed-n$N.json"
  for R in $(seq 1 "$REPS"); do
    if [ $((R % 2)) = 1 ]; then order="evident prowler"; else order="prowler evident"; fi
    for tool in $order; do
      echo "=== N=$N rep $R: $tool"
      measure "$tool" "n$N-r$R"
    done
    "$PY" "$here/verify.py" "expected-$N.json" "out/prowler-n$N-r$R" > "results/verify-prowler-n$N-r$R.txt" || true
    tail -1 "results/verify-prowler-n$N-r$R.txt"
    "$PY" "$here/verify_evident.py" "expected-$N.json" "out/evident-n$N-r$R.json" "out/prowler-n$N-r$R" \
      > "results/verify-evident-n$N-r$R.txt" || true
    tail -1 "results/verify-evident-n$N-r$R.txt"
  done
  # Untimed: evident's calls per action, from moto's recorder.
  curl -s -X POST "$URL/moto-api/recorder/reset-recording" > /dev/null
  curl -s -X POST "$URL/moto-api/recorder/start-recording" > /dev/null
  rm -rf data-rec
  "$evident" --config evident.toml --data-dir data-rec collect --format json > /dev/null 2>&1 || true
  rm -rf data-rec
  curl -s -X POST "$URL/moto-api/recorder/stop-recording" > /dev/null
  "$PY" "$here/count_calls.py" moto_recording --json "results/api-calls-evident-n$N.json" \
    > "results/api-calls-evident-n$N.txt"
  head -1 "results/api-calls-evident-n$N.txt"
done
echo "load after: $(uptime)" | tee -a results/load.txt

# --- summary -----------------------------------------------------------------
{
  echo "| N users | rep | tool | wall | max RSS (MiB) | user+sys CPU s | moto CPU s | moto HTTP req | verdicts |"
  echo "|---|---|---|---|---|---|---|---|---|"
  for N in $SIZES; do for R in $(seq 1 "$REPS"); do for tool in evident prowler; do
    t=results/time-$tool-n$N-r$R.txt
    wall=$(grep Elapsed "$t" | awk '{print $NF}')
    rss=$(grep 'Maximum resident' "$t" | awk '{printf "%.1f", $NF/1024}')
    cpu=$(awk -F': ' '/User time|System time/{s+=$2} END{printf "%.2f", s}' "$t")
    req=$(sed -E 's/.*moto_http_requests=([0-9]+).*/\1/' "results/requests-$tool-n$N-r$R.txt")
    mcpu=$(sed -E 's/.*moto_cpu_s=([0-9.]+).*/\1/' "results/requests-$tool-n$N-r$R.txt")
    v=$(tail -1 "results/verify-$tool-n$N-r$R.txt" | sed -E 's/.*-> //')
    echo "| $N | $R | $tool | $wall | $rss | $cpu | $mcpu | $req | $v |"
  done; done; done
} | tee results/summary.md
