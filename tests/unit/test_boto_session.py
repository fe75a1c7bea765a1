"""The router's boto3 session reads botocore's data faster but must read the same data: the endpoints document with
its other services parsed on demand equals botocore's parse, and resolves every service's endpoints as botocore's
does."""

from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path

import botocore
import pytest
from botocore.regions import EndpointResolver

from aws_adapters.boto_session import FastLoader, LazyServices, endpoints_document

ENDPOINTS = Path(botocore.__file__).parent / "data" / "endpoints.json"
TEXT = ENDPOINTS.read_text()
WHOLE = json.loads(TEXT, object_pairs_hook=OrderedDict)


def forced(document: dict) -> dict:
    """As plain data (fill every LazyServices first: json reads a dict subclass's storage directly)."""
    return json.loads(json.dumps(document))


def test_the_document_parses_only_the_named_services_until_another_is_asked_for():
    document = endpoints_document(TEXT, ("bedrock-runtime",))
    assert document is not None
    services = document["partitions"][0]["services"]
    assert isinstance(services, LazyServices)
    # bedrock-runtime is not listed (botocore resolves it from the partition's defaults): known without a parse
    assert dict.__len__(services) == 0
    assert "bedrock-runtime" not in services and services.get("bedrock-runtime", "default") == "default"
    assert dict.__len__(services) == 0
    assert "sts" in services  # another service: the partition's services are now parsed whole
    assert dict.__len__(services) == len(WHOLE["partitions"][0]["services"])


def test_the_document_is_botocore_s_parse_once_filled():
    document = endpoints_document(TEXT, ("bedrock-runtime", "sts"))
    assert document is not None
    assert dict.__len__(document["partitions"][0]["services"]) == 1  # sts, parsed up front
    for partition in document["partitions"]:
        list(partition["services"])
    assert forced(document) == json.loads(TEXT)
    assert [p["partition"] for p in document["partitions"]] == [p["partition"] for p in WHOLE["partitions"]]


@pytest.mark.parametrize("service", ["bedrock-runtime", "sts", "s3", "no-such-service"])
@pytest.mark.parametrize("region", ["us-east-1", "eu-west-3", "cn-north-1", "us-gov-west-1", "xx-nowhere-1"])
def test_endpoints_resolve_as_botocore_resolves_them(service, region):
    ours = EndpointResolver(endpoints_document(TEXT, ("bedrock-runtime",)), uses_builtin_data=True)
    theirs = EndpointResolver(json.loads(TEXT, object_pairs_hook=OrderedDict), uses_builtin_data=True)
    for fips, dualstack in ((False, False), (True, False), (False, True)):
        options = {"use_fips_endpoint": fips, "use_dualstack_endpoint": dualstack}
        assert ours.construct_endpoint(service, region, **options) == theirs.construct_endpoint(
            service, region, **options
        )
    assert ours.get_available_endpoints(service) == theirs.get_available_endpoints(service)


def test_text_laid_out_otherwise_is_left_to_botocore():
    assert endpoints_document(json.dumps(WHOLE), ("bedrock-runtime",)) is None
    assert endpoints_document(TEXT[: len(TEXT) // 2], ("bedrock-runtime",)) is None


def test_the_loader_returns_the_same_data_and_path_as_botocore_s():
    from botocore.loaders import Loader

    ours, path = FastLoader(("bedrock-runtime",)).load_data_with_path("endpoints")
    theirs, their_path = Loader().load_data_with_path("endpoints")
    assert path == their_path
    assert isinstance(ours["partitions"][0]["services"], LazyServices)
    for partition in ours["partitions"]:
        list(partition["services"])
    assert forced(ours) == json.loads(json.dumps(theirs))
    assert FastLoader(("bedrock-runtime",)).load_data_with_path("_retry") == Loader().load_data_with_path("_retry")
