#!/usr/bin/env python3
# Origin: copied unchanged from the project's benchmark recipe shared/bench/prowler-vs-moto
# (written for evident, Apache-2.0 like this repository); keep the two in step.
"""Compare a Prowler CSV output against the expected counts written by seed.py.

Usage: verify.py expected-N.json out/DIR   -> prints a table, exit 1 on mismatch
"""
import collections
import csv
import glob
import json
import sys

exp = json.load(open(sys.argv[1]))
csvs = [f for f in glob.glob(sys.argv[2] + "/*.csv")]
rows = list(csv.DictReader(open(csvs[0]), delimiter=";"))
c = collections.Counter((r["CHECK_ID"], r["STATUS"]) for r in rows)
n = exp["n_users"]
expected = {
    ("iam_root_mfa_enabled", "FAIL"): 0,  # moto's credential report has no <root_account> row
    ("iam_root_mfa_enabled", "PASS"): 0,
    ("iam_user_mfa_enabled_console_access", "FAIL"): exp["console_without_mfa"],
    ("iam_user_mfa_enabled_console_access", "PASS"): n - exp["console_without_mfa"],
    ("iam_administrator_access_with_mfa", "FAIL"): 1 if exp["admin_group_members"] else 0,
    ("iam_administrator_access_with_mfa", "PASS"): 0 if exp["admin_group_members"] else 1,
    ("iam_user_hardware_mfa_enabled", "FAIL"): n,  # virtual MFA or none -> FAIL for every user
    ("iam_user_hardware_mfa_enabled", "PASS"): 0,
    ("iam_password_policy_minimum_length_14", "PASS"): 1,
    ("cloudtrail_multi_region_enabled", "PASS"): 1,
    ("cloudtrail_log_file_validation_enabled", "PASS"): 1,
    ("s3_bucket_public_access", "FAIL"): 1,
    ("s3_bucket_public_access", "PASS"): 2,
    ("s3_account_level_public_access_blocks", "FAIL"): 1,
}
ok = True
print(f"{'check':45s} {'status':6s} {'expected':>8s} {'got':>6s}")
for k in sorted(set(expected) | set(c)):
    e, g = expected.get(k, 0), c.get(k, 0)
    flag = "" if e == g else "  <-- MISMATCH"
    ok &= e == g
    print(f"{k[0]:45s} {k[1]:6s} {e:8d} {g:6d}{flag}")
# exact identity check for the console-without-MFA users
sys.path.insert(0, __import__("os").path.dirname(__import__("os").path.abspath(__file__)))
from seed import plan  # noqa: E402
want = {plan(i)["name"] for i in range(n) if plan(i)["console"] and not plan(i)["mfa"]}
got = {r["RESOURCE_NAME"] or r["RESOURCE_UID"].rsplit("/", 1)[-1] for r in rows
       if r["CHECK_ID"] == "iam_user_mfa_enabled_console_access" and r["STATUS"] == "FAIL"}
got = {g.rsplit("/", 1)[-1] for g in got}
same = want == got
ok &= same
print(f"console-without-MFA FAIL set identical to seeded set: {same} "
      f"(missing {len(want - got)}, unexpected {len(got - want)})")
print(f"total findings: {len(rows)}  (FAIL {sum(v for (ck, s), v in c.items() if s == 'FAIL')}, "
      f"PASS {sum(v for (ck, s), v in c.items() if s == 'PASS')})  -> {'OK' if ok else 'MISMATCH'}")
sys.exit(0 if ok else 1)
