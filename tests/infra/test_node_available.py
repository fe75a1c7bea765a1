"""The infrastructure tests need Node.js (aws-cdk-lib runs on jsii): say so plainly when it is missing."""

import shutil

import pytest

from tests.infra.conftest import NODE_MISSING_MESSAGE


def test_node_is_installed_for_the_cdk():
    if shutil.which("node") is None:
        pytest.fail(NODE_MISSING_MESSAGE, pytrace=False)
