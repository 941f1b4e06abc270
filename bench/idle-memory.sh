#!/bin/sh
# Resident memory of the `evident run` daemon when idle.
#
# usage: bench/idle-memory.sh [BINARY] CONFIG [IDLE_SECONDS]
#   BINARY        the evident binary (default target/release/evident)
#   CONFIG        the config file passed as `evident run --config CONFIG`
#   IDLE_SECONDS  how long to let it idle before measuring (default 5)
#
# Starts the daemon, waits, reads VmRSS (and VmHWM, the peak) from
# /proc/PID/status, then stops it with SIGTERM and waits up to 10 s for it
# to exit (SIGKILL after that). Prints the figures; exits non-zero if the
# daemon could not be started, died while idle, or did not stop on SIGTERM.
# Target (issue 3): at most 15 MB resident when idle.
#
# Written before `evident run` existed: the `run --config` invocation is an
# assumption to check against the daemon's CLI. Linux only (/proc).
set -eu

if [ $# -eq 1 ]; then
    bin=target/release/evident
    config=$1
    idle=5
elif [ $# -ge 2 ]; then
    bin=$1
    config=$2
    idle=${3:-5}
else
    echo "usage: $0 [BINARY] CONFIG [IDLE_SECONDS]" >&2
    exit 2
fi
[ -x "$bin" ] || { echo "$0: $bin is not an executable (build with: cargo build --release -p evident)" >&2; exit 2; }
[ -r "$config" ] || { echo "$0: cannot read config $config" >&2; exit 2; }
case $idle in ''|*[!0-9]*) echo "$0: IDLE_SECONDS must be a whole number" >&2; exit 2 ;; esac

log=$(mktemp "${TMPDIR:-/tmp}/evident-idle.XXXXXX")
"$bin" run --config "$config" >"$log" 2>&1 &
pid=$!

cleanup() {
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$log"
}
trap cleanup EXIT INT TERM

sleep "$idle"
if ! kill -0 "$pid" 2>/dev/null; then
    status=0
    wait "$pid" || status=$?
    echo "$0: the daemon exited (status $status) before $idle s; its output:" >&2
    cat "$log" >&2
    exit 1
fi

rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status")
threads=$(awk '/^Threads:/ {print $2}' "/proc/$pid/status")

kill -TERM "$pid"
i=0
while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do
    sleep 0.1
    i=$((i + 1))
done
stopped=yes
status=0
if kill -0 "$pid" 2>/dev/null; then
    stopped=no
else
    wait "$pid" || status=$?
fi

echo "binary:        $bin"
echo "idle for:      ${idle} s"
echo "VmRSS:         ${rss} kB ($(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1024 }') MiB)"
echo "VmHWM (peak):  ${hwm} kB"
echo "threads:       ${threads}"
echo "SIGTERM:       stopped=$stopped exit=$status"
[ "$stopped" = yes ] || { echo "$0: the daemon did not stop within 10 s of SIGTERM" >&2; exit 1; }
