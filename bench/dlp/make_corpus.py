#!/usr/bin/env python3
"""Build the DLP benchmark corpus: >= 200 MB of real text already on this
machine (Rust crate sources, Python library sources, documentation), split
into ~20 MB parts, plus one part of planted findings. Values are generated
here; none is a real credential.

usage: make_corpus.py OUT_DIR [MIN_MB]
"""
import os
import random
import string
import sys

OUT = sys.argv[1]
MIN_MB = int(sys.argv[2]) if len(sys.argv) > 2 else 220
SOURCES = [
    os.path.expanduser("~/.cargo/registry/src"),
    "/usr/lib/python3.11",
    "/usr/lib/python3/dist-packages",
    "/usr/share",
]
SKIP_EXT = {
    "gz", "xz", "bz2", "zip", "zst", "png", "jpg", "jpeg", "gif", "ico", "woff", "woff2",
    "ttf", "otf", "pyc", "so", "a", "o", "rlib", "wasm", "bin", "db", "mo", "svgz", "tar",
}
PART_BYTES = 20 << 20


def text_files():
    for src in SOURCES:
        for root, dirs, files in os.walk(src):
            dirs.sort()
            for name in sorted(files):
                ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
                if ext in SKIP_EXT:
                    continue
                p = os.path.join(root, name)
                try:
                    if os.path.islink(p) or not os.path.isfile(p):
                        continue
                    size = os.path.getsize(p)
                    if size == 0 or size > (4 << 20):
                        continue
                    with open(p, "rb") as f:
                        data = f.read()
                except OSError:
                    continue
                if b"\0" in data[:8192]:
                    continue
                yield p, data


def plant(rng, n_files):
    up27 = string.ascii_uppercase + "234567"
    alnum = string.ascii_letters + string.digits
    b64 = alnum + "+/"

    def pick(alpha, k):
        return "".join(rng.choice(alpha) for _ in range(k))

    def luhn_ok(digits):
        s = 0
        for i, d in enumerate(reversed(digits)):
            d = int(d)
            if i % 2 == 1:
                d *= 2
                if d > 9:
                    d -= 9
            s += d
        return s % 10 == 0

    def card(prefix, length):
        while True:
            body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
            for c in string.digits:
                if luhn_ok(body + c):
                    return body + c

    files = []
    for i in range(n_files):
        lines = [
            "# service configuration",
            f"aws_access_key_id = AKIA{pick(up27, 16)}",
            f"aws_secret_access_key = {pick(b64, 40)}",
            f"GITHUB_TOKEN=ghp_{pick(alnum, 36)}",
            f"stripe = 'sk_live_{pick(alnum, 24)}'",
            f"slack: xoxb-{pick(string.digits, 11)}-{pick(string.digits, 12)}-{pick(alnum, 24)}",
            f"db_password = \"{pick(alnum, 10)}#{pick(alnum, 8)}\"",
            f"card {card('4', 16)}",
            f"contact: {pick(string.ascii_lowercase, 6)}@corp-mail.de",
            "see the manual for details",
        ]
        files.append((f"planted/config-{i:03}.env", "\n".join(lines) + "\n"))
    return files


def main():
    os.makedirs(OUT, exist_ok=True)
    total = 0
    part = 0
    part_bytes = 0
    n = 0
    for p, data in text_files():
        if part_bytes >= PART_BYTES:
            part += 1
            part_bytes = 0
        rel = os.path.join(f"p{part:02}", f"{n:06}-" + os.path.basename(p))
        dst = os.path.join(OUT, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        with open(dst, "wb") as f:
            f.write(data)
        n += 1
        total += len(data)
        part_bytes += len(data)
        if total >= MIN_MB << 20:
            break
    rng = random.Random(2026)
    for rel, content in plant(rng, 200):
        dst = os.path.join(OUT, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        with open(dst, "w") as f:
            f.write(content)
        total += len(content)
    print(f"{n} files, {total / (1 << 20):.1f} MiB in {OUT}")


main()
