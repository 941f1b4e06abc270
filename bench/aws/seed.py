#!/usr/bin/env python3
# Origin: copied unchanged from the project's benchmark recipe shared/bench/prowler-vs-moto
# (written for evident, Apache-2.0 like this repository); keep the two in step.
"""Seed a moto server with a synthetic AWS account for the Prowler benchmark.

Usage: seed.py N [--endpoint URL] [--workers W] [--no-reset] [--expected FILE]

User i (0 <= i < N) gets, deterministically:
  * AdministratorAccess attached directly   if i % 20 in (0, 1)        -> 10 %
  * membership of group 'admins'             if i % 20 == 7            ->  5 %
    ('admins' has AdministratorAccess attached)
  * a login profile (console password)       if i % 5 in (0, 1, 2)     -> 60 %
  * an enabled virtual MFA device            if console and i % 2 == 0 -> 30 % (half of console users)
  * an access key                            if i % 10 in (1, 4, 7)    -> 30 %
Account-level: password policy (min length 14, all char classes, reuse 24,
max age 90), one multi-region CloudTrail trail with log-file validation and
logging started, 3 S3 buckets:
  bench-public-<acct>   bucket policy with Principal "*" (public read)
  bench-private-<acct>  public access block all true + AES256 default encryption
  bench-trail-<acct>    plain bucket receiving the CloudTrail logs
No account-level S3 public access block is set; root has no MFA (moto default).
Finally generate_credential_report is called.  Expected counts are written as JSON.
"""
import argparse
import json
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.config import Config

ADMIN_ARN = "arn:aws:iam::aws:policy/AdministratorAccess"
REGION = "us-east-1"


def plan(i):
    console = i % 5 in (0, 1, 2)
    return {
        "name": f"bench-user-{i:05d}",
        "admin_direct": i % 20 in (0, 1),
        "admin_group": i % 20 == 7,
        "console": console,
        "mfa": console and i % 2 == 0,
        "access_key": i % 10 in (1, 4, 7),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("n", type=int)
    ap.add_argument("--endpoint", default="http://127.0.0.1:5077")
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--no-reset", action="store_true")
    ap.add_argument("--expected", default=None, help="write expected counts JSON here")
    a = ap.parse_args()

    t0 = time.monotonic()
    if not a.no_reset:
        req = urllib.request.Request(a.endpoint + "/moto-api/reset", method="POST")
        urllib.request.urlopen(req).read()

    cfg = Config(retries={"max_attempts": 3, "mode": "standard"}, max_pool_connections=max(10, a.workers * 2))
    kw = dict(endpoint_url=a.endpoint, region_name=REGION,
              aws_access_key_id="testing", aws_secret_access_key="testing", config=cfg)
    iam = boto3.client("iam", **kw)
    s3 = boto3.client("s3", **kw)
    ct = boto3.client("cloudtrail", **kw)
    sts = boto3.client("sts", **kw)
    acct = sts.get_caller_identity()["Account"]

    # --- account level -----------------------------------------------------
    iam.update_account_password_policy(
        MinimumPasswordLength=14, RequireSymbols=True, RequireNumbers=True,
        RequireUppercaseCharacters=True, RequireLowercaseCharacters=True,
        AllowUsersToChangePassword=True, MaxPasswordAge=90,
        PasswordReusePrevention=24, HardExpiry=False)
    iam.create_group(GroupName="admins")
    iam.attach_group_policy(GroupName="admins", PolicyArn=ADMIN_ARN)

    pub, priv, trail_b = (f"bench-public-{acct}", f"bench-private-{acct}", f"bench-trail-{acct}")
    for b in (pub, priv, trail_b):
        s3.create_bucket(Bucket=b)
    s3.put_bucket_policy(Bucket=pub, Policy=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Sid": "PublicRead", "Effect": "Allow", "Principal": "*",
                       "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{pub}/*"}]}))
    s3.put_public_access_block(Bucket=priv, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True,
        "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
    s3.put_bucket_encryption(Bucket=priv, ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
    s3.put_bucket_policy(Bucket=trail_b, Policy=json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "AWSCloudTrailAclCheck", "Effect": "Allow",
             "Principal": {"Service": "cloudtrail.amazonaws.com"},
             "Action": "s3:GetBucketAcl", "Resource": f"arn:aws:s3:::{trail_b}"},
            {"Sid": "AWSCloudTrailWrite", "Effect": "Allow",
             "Principal": {"Service": "cloudtrail.amazonaws.com"},
             "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{trail_b}/AWSLogs/{acct}/*"}]}))
    ct.create_trail(Name="bench-trail", S3BucketName=trail_b, IsMultiRegionTrail=True,
                    EnableLogFileValidation=True, IncludeGlobalServiceEvents=True)
    ct.start_logging(Name="bench-trail")
    t_acct = time.monotonic()

    # --- users ---------------------------------------------------------------
    def make(i):
        p = plan(i)
        u = p["name"]
        calls = 1
        iam.create_user(UserName=u)
        if p["admin_direct"]:
            iam.attach_user_policy(UserName=u, PolicyArn=ADMIN_ARN); calls += 1
        if p["admin_group"]:
            iam.add_user_to_group(GroupName="admins", UserName=u); calls += 1
        if p["console"]:
            iam.create_login_profile(UserName=u, Password="Bench-Passw0rd!xyz", PasswordResetRequired=False); calls += 1
        if p["mfa"]:
            sn = iam.create_virtual_mfa_device(VirtualMFADeviceName=f"{u}-mfa")["VirtualMFADevice"]["SerialNumber"]
            iam.enable_mfa_device(UserName=u, SerialNumber=sn,
                                  AuthenticationCode1="123456", AuthenticationCode2="654321"); calls += 2
        if p["access_key"]:
            iam.create_access_key(UserName=u); calls += 1
        return p, calls

    with ThreadPoolExecutor(max_workers=a.workers) as ex:
        results = list(ex.map(make, range(a.n)))
    t_users = time.monotonic()

    iam.generate_credential_report()
    # wait until the report is ready (moto returns COMPLETE immediately)
    for _ in range(20):
        if iam.generate_credential_report()["State"] == "COMPLETE":
            break
        time.sleep(0.5)
    t_end = time.monotonic()

    ps = [p for p, _ in results]
    exp = {
        "account_id": acct,
        "n_users": a.n,
        "admin_direct": sum(p["admin_direct"] for p in ps),
        "admin_group_members": sum(p["admin_group"] for p in ps),
        "console_users": sum(p["console"] for p in ps),
        "console_with_mfa": sum(p["mfa"] for p in ps),
        "console_without_mfa": sum(p["console"] and not p["mfa"] for p in ps),
        "admins_direct_or_group_console_without_mfa": sum(
            (p["admin_direct"] or p["admin_group"]) and p["console"] and not p["mfa"] for p in ps),
        "users_with_access_key": sum(p["access_key"] for p in ps),
        "buckets": [pub, priv, trail_b],
        "seed_api_calls_users": sum(c for _, c in results),
        "seed_seconds_total": round(t_end - t0, 2),
        "seed_seconds_account": round(t_acct - t0, 2),
        "seed_seconds_users": round(t_users - t_acct, 2),
    }
    print(json.dumps(exp, indent=2))
    if a.expected:
        with open(a.expected, "w") as f:
            json.dump(exp, f, indent=2)


if __name__ == "__main__":
    sys.exit(main())
