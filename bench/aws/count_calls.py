#!/usr/bin/env python3
# Origin: copied unchanged from the project's benchmark recipe shared/bench/prowler-vs-moto
# (written for evident, Apache-2.0 like this repository); keep the two in step.
"""Count AWS API calls per service/action in a moto recording file.

Usage: count_calls.py moto_recording [--json OUT]
Service comes from the SigV4 credential scope in the Authorization header;
action from the Action= form field (query/ec2 protocols), X-Amz-Target (json),
or "METHOD path-with-?subresource" for REST services (S3, S3 Control).
"""
import base64
import collections
import json
import re
import sys
from urllib.parse import parse_qs, urlsplit


def classify(e):
    h = {k.lower(): v for k, v in e["headers"].items()}
    m = re.search(r"Credential=[^/]+/[^/]+/([^/]+)/([^/]+)/", h.get("authorization", ""))
    region, svc = (m.group(1), m.group(2)) if m else ("?", "?")
    host = h.get("host", "")
    if svc == "s3" and re.match(r"^\d{12}\.", host):
        svc = "s3control"
    body = e.get("body") or ""
    if e.get("body_encoded"):
        body = base64.b64decode(body).decode("utf-8", "replace")
    if "x-amz-target" in h:
        return svc, region, h["x-amz-target"].split(".")[-1]
    q = parse_qs(body) if body and "=" in body and not body.lstrip().startswith(("<", "{")) else {}
    if "Action" in q:
        return svc, region, q["Action"][0]
    u = urlsplit(e["url"])
    uq = parse_qs(u.query, keep_blank_values=True)
    if "Action" in uq:
        return svc, region, uq["Action"][0]
    path = u.path
    # normalise bucket names / account ids
    path = re.sub(r"^/[^/]+", "/{bucket}", path) if svc == "s3" and path not in ("/", "") else path
    sub = ",".join(sorted(k for k in uq if k not in ("x-id", "max-keys", "prefix")))
    return svc, region, f"{e['method']} {path}{'?' + sub if sub else ''}"


def main():
    recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
    c = collections.Counter(classify(e) for e in recs)
    by_svc = collections.Counter()
    for (svc, _r, _a), n in c.items():
        by_svc[svc] += n
    print(f"total requests: {len(recs)}")
    for svc, n in by_svc.most_common():
        print(f"  {svc:12s} {n}")
    print("per action:")
    for (svc, region, act), n in sorted(c.items(), key=lambda kv: -kv[1]):
        print(f"  {n:6d}  {svc}:{act}  [{region}]")
    if "--json" in sys.argv:
        out = sys.argv[sys.argv.index("--json") + 1]
        json.dump({"total": len(recs), "by_service": by_svc,
                   "by_action": {f"{s}:{a}[{r}]": n for (s, r, a), n in c.items()}},
                  open(out, "w"), indent=2)


if __name__ == "__main__":
    main()
