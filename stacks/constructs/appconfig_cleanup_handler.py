"""Custom resource: delete a hosted profile's versions when the stack is deleted (inline Lambda source).

AppConfig refuses to delete a configuration profile that still has hosted versions; the
controller adds versions and CDK retains the one it created, so without this `cdk destroy` fails.
Only while the stack itself is being deleted (or a failed create rolls back): any other Delete
(a renamed construct, an update cleanup) keeps the versions, which may be serving traffic.
"""

import json
import urllib.request

import boto3
from botocore.config import Config

DELETING = ("DELETE_IN_PROGRESS", "ROLLBACK_IN_PROGRESS")
RESERVE_MS = 10000


def handler(event, context):
    status, reason = "SUCCESS", ""
    app = event["ResourceProperties"].get("ApplicationId", "")
    profile = event["ResourceProperties"].get("ConfigurationProfileId", "")
    physical = event.get("PhysicalResourceId") or f"{app}/{profile}/hosted-versions"
    try:
        if event["RequestType"] == "Delete":
            cfg = Config(retries={"max_attempts": 8, "mode": "standard"})
            reason = cleanup(
                boto3.client("cloudformation", config=cfg),
                boto3.client("appconfig", config=cfg),
                event["StackId"],
                app,
                profile,
                context.get_remaining_time_in_millis,
            )
    except Exception as exc:  # noqa: BLE001 - report, never leave CloudFormation waiting for an hour
        status, reason = "FAILED", f"{type(exc).__name__}: {exc}"
    print(json.dumps({"request": event["RequestType"], "status": status, "reason": reason}))
    send(event, status, reason, physical)


def cleanup(cloudformation, appconfig, stack_id, app, profile, remaining_ms):
    stack_status = cloudformation.describe_stacks(StackName=stack_id)["Stacks"][0]["StackStatus"]
    if stack_status not in DELETING:
        return f"stack is {stack_status}, not being deleted: hosted versions kept"
    versions = []
    kwargs = {"ApplicationId": app, "ConfigurationProfileId": profile, "MaxResults": 50}
    try:
        while True:
            page = appconfig.list_hosted_configuration_versions(**kwargs)
            versions += [item["VersionNumber"] for item in page.get("Items", [])]
            if not page.get("NextToken"):
                break
            kwargs["NextToken"] = page["NextToken"]
    except appconfig.exceptions.ResourceNotFoundException:
        return "profile already deleted"
    for number in sorted(versions):
        if remaining_ms() < RESERVE_MS:
            raise TimeoutError(f"{len(versions)} versions, time ran out: run the delete again to finish")
        try:
            appconfig.delete_hosted_configuration_version(
                ApplicationId=app, ConfigurationProfileId=profile, VersionNumber=number
            )
        except appconfig.exceptions.ResourceNotFoundException:
            pass
    return f"deleted {len(versions)} hosted versions"


def send(event, status, reason, physical):
    body = json.dumps(
        {
            "Status": status,
            "Reason": reason[:3000],
            "PhysicalResourceId": physical,
            "StackId": event["StackId"],
            "RequestId": event["RequestId"],
            "LogicalResourceId": event["LogicalResourceId"],
        }
    ).encode()
    request = urllib.request.Request(
        event["ResponseURL"], data=body, method="PUT", headers={"Content-Type": "", "Content-Length": str(len(body))}
    )
    urllib.request.urlopen(request, timeout=30).close()
