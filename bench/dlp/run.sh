#!/usr/bin/env bash
# DLP scanner benchmark (not a test): evident scan vs rg, Kingfisher and
# detect-secrets on the same >= 200 MB corpus of real text with planted
# findings. Needs: a release build (cargo build --release -p evident),
# ripgrep (apt), kingfisher-bin and detect-secrets (pip).
#
# usage: bench/dlp/run.sh [CORPUS_DIR]
# Prints one line per tool: MB per CPU-second, wall seconds, peak RSS, findings.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
corpus=${1:-/tmp/evident-dlp-bench/corpus}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ ! -d "$corpus" ]; then
  python3 "$here/make_corpus.py" "$corpus" 220
fi
evident="$repo/target/release/evident"
[ -x "$evident" ] || { echo "build first: cargo build --release -p evident" >&2; exit 1; }

bytes=$(du -sb "$corpus" | cut -f1)
mb=$(python3 -c "print($bytes / 1e6)")
ds_part="$corpus/p00"
ds_bytes=$(du -sb "$ds_part" | cut -f1)
ds_mb=$(python3 -c "print($ds_bytes / 1e6)")
echo "corpus: $corpus, $mb MB ($(find "$corpus" -type f | wc -l) files); cores: $(nproc)"
# Warm the page cache so every tool reads from memory.
find "$corpus" -type f -print0 | xargs -0 cat > /dev/null

head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$work/key"

# rg: the same detectors as evident's rules, as plain regexes (no validation).
rg_patterns=(
  -e '\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}\b'
  -e '"private_key"\s*:\s*"-----BEGIN PRIVATE KEY-----'
  -e '(?i:AccountKey)\s*=\s*[A-Za-z0-9+/]{86}=='
  -e '-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----'
  -e '\bgh[pousr]_[A-Za-z0-9]{36}\b'
  -e '\bgithub_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}\b'
  -e '\bglpat-[A-Za-z0-9_-]{20}'
  -e '\bxox[bpae]-[0-9]{8,13}-[0-9A-Za-z-]{10,80}\b'
  -e 'https://hooks\.slack\.com/services/T[A-Z0-9]{8,12}/B[A-Z0-9]{8,12}/[A-Za-z0-9]{20,32}'
  -e '\b(?:sk|rk)_live_[A-Za-z0-9]{24,99}\b'
  -e '\bnpm_[A-Za-z0-9]{36}\b'
  -e '\bpypi-AgE[A-Za-z0-9_-]{60,250}'
  -e '\bSG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}'
  -e '\bSK[0-9a-f]{32}\b'
  -e '\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{16,}'
  -e "(?i:passw(?:or)?d|pwd|secret|token|api[_-]?key|auth[_-]?key|access[_-]?key|private[_-]?key)[A-Za-z0-9_-]{0,20}[\"']?\\s{0,4}(?::=|=>|=|:)\\s{0,4}[\"'\`]?[A-Za-z0-9+/=_.~!@#\$%^&*-]{16,100}"
  -e '\b(?:[2-6][0-9]{3}(?:[ -]?[0-9]{4}){3}(?:[0-9]{1,3})?|3[47][0-9]{2}[ -]?[0-9]{6}[ -]?[0-9]{5})\b'
  -e '\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b'
  -e '\b[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}\b'
  -e '\b[0-9]{3}-[0-9]{2}-[0-9]{4}\b'
)

# (detect-secrets silently scans nothing when given an absolute path outside
# the working directory, hence the cd.)
# run NAME MB COUNT_CMD -- CMD...: time CMD (stdout to a file), then count findings.
run() {
  local name=$1 size=$2 count=$3; shift 4
  /usr/bin/time -f '%e %U %S %M' -o "$work/$name.time" "$@" > "$work/$name.out" 2> "$work/$name.err" || true
  read -r wall user sys rss < <(tail -1 "$work/$name.time")
  local found
  found=$(eval "$count" < "$work/$name.out" 2>/dev/null || echo "?")
  python3 - "$name" "$size" "$wall" "$user" "$sys" "$rss" "$found" <<'PY'
import sys
name, size, wall, user, sys_, rss, found = sys.argv[1:]
cpu = float(user) + float(sys_)
print(f"| {name} | {float(size):.0f} | {float(size) / cpu:.1f} | {float(wall):.2f} | {cpu:.2f} | {int(rss) / 1024:.0f} | {found} |")
PY
}

echo "| tool | MB | MB per CPU-second | wall s | CPU s | peak RSS MiB | findings |"
echo "|---|---|---|---|---|---|---|"
run "evident scan (all rules, us-ssn on)" "$mb" "python3 -c 'import json,sys; print(len(json.load(sys.stdin)[\"findings\"]))'" -- \
  "$evident" --data-dir "$work/data" --format json scan --no-progress --enable-rule us-ssn \
  --fingerprint-key "$work/key" "$corpus"
run "rg, 20 patterns (Unicode, rg's default)" "$mb" "wc -l" -- \
  rg --no-ignore --hidden --no-messages --line-number --no-heading "${rg_patterns[@]}" "$corpus"
# The same patterns in ASCII mode ((?-u)), as evident compiles its rules.
rg_ascii=()
for x in "${rg_patterns[@]}"; do
  if [ "$x" = -e ]; then rg_ascii+=(-e); else rg_ascii+=("(?-u)$x"); fi
done
run "rg, 20 patterns (ASCII)" "$mb" "wc -l" -- \
  rg --no-ignore --hidden --no-messages --line-number --no-heading "${rg_ascii[@]}" "$corpus"
run "kingfisher 2.14 (--no-validate)" "$mb" "python3 -c 'import json,sys; d=json.JSONDecoder().raw_decode(sys.stdin.read())[0]; print(len(d[\"findings\"]))'" -- \
  kingfisher scan "$corpus" --no-validate --no-update-check --git-history none -j "$(nproc)" --format json
run "detect-secrets 1.5 (first 20 MB part only)" "$ds_mb" "python3 -c 'import json,sys; print(sum(len(v) for v in json.load(sys.stdin)[\"results\"].values()))'" -- \
  bash -c 'cd "$1" && exec detect-secrets scan --all-files .' _ "$ds_part"
