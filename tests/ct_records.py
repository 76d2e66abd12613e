"""CloudTrail records shaped as AWS documents them, for the workload-credential cases.

Field by field these follow the CloudTrail userIdentity element and the STS AssumeRole event as
the AWS CloudTrail User Guide shows them: an instance profile's credentials are delivered by
``AssumeRole`` invoked by ``ec2.amazonaws.com`` with the instance id as the session name, and each
use names ``assumed-role/<role>/i-<id>`` with ``sessionContext.ec2RoleDelivery``. The stories
built from them (tests/test_workload_credentials.py) follow public write-ups of the attack: the
Stratus Red Team technique "Steal EC2 Instance Credentials" (an SSM command reads the credentials,
the operator uses them from their own machine) and an SSRF against a web server's metadata service
whose credentials are then used from the attacker's host (Hack The Box Sherlock
"Heartbreaker-Denouement" write-ups). They are our cases, not recordings.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

ACCOUNT = "111122223333"
T0 = datetime(2024, 3, 13, 13, 0, tzinfo=UTC)

SSM_AGENT = "aws-sdk-go/1.44.260 (go1.20.11; linux; amd64) amazon-ssm-agent/3.2.2016.0"
CW_AGENT = "aws-sdk-go/1.48.6 (go1.21.5; linux; amd64) CWAgent/1.300032.3b392"
PHP_APP = "aws-sdk-php/3.300.0 OS/Linux/5.15.0-1051-aws lang/php#8.1.2 GuzzleHttp/7"
LAPTOP_CLI = (
    "aws-cli/2.15.30 Python/3.11.8 Darwin/23.4.0 exe/x86_64 prompt/off command/sts.get-caller-identity"
)
KALI_CLI = (
    "aws-cli/1.29.54 md/Botocore#1.31.54 ua/2.0 os/linux#6.3.0-kali1-cloud-amd64 md/arch#x86_64 "
    "lang/python#3.11.8 md/pyimpl#CPython cfg/retry-mode#legacy botocore/1.31.54"
)
WINDOWS_CLI = "aws-cli/1.16.219 Python/3.7.0 Windows/10 botocore/1.12.209"
LAMBDA_SDK = "Boto3/1.34.34 md/Botocore#1.34.34 ua/2.0 os/linux#5.10.209-226.812.amzn2.x86_64 exec-env/AWS_Lambda_python3.12"


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _base(minutes: float, source: str, name: str, ip: str, ua: str) -> dict[str, Any]:
    return {
        "eventVersion": "1.08",
        "eventTime": at(minutes),
        "eventSource": source,
        "eventName": name,
        "awsRegion": "us-east-1",
        "sourceIPAddress": ip,
        "userAgent": ua,
        "requestParameters": None,
        "responseElements": None,
        "eventID": f"{name}-{minutes}-{ip}-{abs(hash(ua)) % 10**8}",
        "readOnly": True,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management",
    }


def delivered(
    minutes: float, role: str, instance: str, key: str, service: str = "ec2.amazonaws.com"
) -> dict[str, Any]:
    """A service assuming a role for a workload: the credential's delivery (AssumeRole by the service)."""
    rec = _base(minutes, "sts.amazonaws.com", "AssumeRole", service, service)
    rec["userIdentity"] = {"type": "AWSService", "invokedBy": service}
    rec["requestParameters"] = {"roleArn": f"arn:aws:iam::{ACCOUNT}:role/{role}", "roleSessionName": instance}
    rec["responseElements"] = {
        "credentials": {
            "accessKeyId": key,
            "sessionToken": "IQoJb3JpZ2luX2VjEXAMPLE",
            "expiration": (T0 + timedelta(minutes=minutes + 360)).strftime("%b %-d, %Y, %-I:%M:%S %p"),
        }
    }
    rec["readOnly"] = True
    return rec


def instance_call(
    minutes: float, role: str, instance: str, key: str, ip: str, ua: str, name: str = "GetCallerIdentity"
) -> dict[str, Any]:
    """A call signed with an instance profile's credentials."""
    source = "sts.amazonaws.com" if name == "GetCallerIdentity" else "ec2.amazonaws.com"
    rec = _base(minutes, source, name, ip, ua)
    rec["userIdentity"] = {
        "type": "AssumedRole",
        "principalId": f"AROAEXAMPLEROLEID:{instance}",
        "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{instance}",
        "accountId": ACCOUNT,
        "accessKeyId": key,
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": "AROAEXAMPLEROLEID",
                "arn": f"arn:aws:iam::{ACCOUNT}:role/{role}",
                "accountId": ACCOUNT,
                "userName": role,
            },
            "webIdFederationData": {},
            "attributes": {"creationDate": at(0), "mfaAuthenticated": "false"},
            "ec2RoleDelivery": "2.0",
        },
    }
    return rec


def session_call(
    minutes: float, role: str, session: str, key: str, ip: str, ua: str, name: str = "ListBuckets"
) -> dict[str, Any]:
    """A call of a role session without an instance (Lambda, ECS, an assumed session)."""
    rec = instance_call(minutes, role, session, key, ip, ua, name)
    del rec["userIdentity"]["sessionContext"]["ec2RoleDelivery"]
    rec["eventSource"] = "s3.amazonaws.com"
    return rec


def user_call(
    minutes: float, user: str, key: str, ip: str, ua: str, name: str = "SendCommand"
) -> dict[str, Any]:
    """An IAM user's call with its access key (the operator's own identity)."""
    rec = _base(minutes, "ssm.amazonaws.com", name, ip, ua)
    rec["userIdentity"] = {
        "type": "IAMUser",
        "principalId": "AIDAEXAMPLEUSERID",
        "arn": f"arn:aws:iam::{ACCOUNT}:user/{user}",
        "accountId": ACCOUNT,
        "accessKeyId": key,
        "userName": user,
    }
    rec["readOnly"] = False
    return rec


def service_call(minutes: float, role: str, instance: str, key: str, service: str) -> dict[str, Any]:
    """A call an AWS service made with the instance's credentials: its address is the service's name."""
    rec = instance_call(minutes, role, instance, key, service, service, "PutObject")
    rec["userIdentity"]["invokedBy"] = service
    return rec


AWS_RANGES = {
    "syncToken": "1710000000",
    "createDate": "2024-03-13-00-00-00",
    "prefixes": [
        {
            "ip_prefix": "3.144.0.0/13",
            "region": "us-east-2",
            "service": "EC2",
            "network_border_group": "us-east-2",
        },
        {
            "ip_prefix": "35.168.0.0/13",
            "region": "us-east-1",
            "service": "EC2",
            "network_border_group": "us-east-1",
        },
        {
            "ip_prefix": "54.160.0.0/12",
            "region": "us-east-1",
            "service": "AMAZON",
            "network_border_group": "us-east-1",
        },
    ],
    "ipv6_prefixes": [
        {
            "ipv6_prefix": "2600:1f18::/33",
            "region": "us-east-1",
            "service": "EC2",
            "network_border_group": "us-east-1",
        }
    ],
}
