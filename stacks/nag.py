"""cdk-nag AwsSolutions checks for the whole app.

cdk-nag 3 is a CDK policy-validation plugin: it runs when the app synthesizes and a finding
that is not acknowledged fails the synth. Acknowledgements live next to the construct that
causes the finding (`Validations.of(construct).acknowledge(...)`), each with its reason; each
IAM5 wildcard is acknowledged individually (cdk-nag 3 has no prefix matching).
"""

from __future__ import annotations

from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks


def add_nag_checks(app: App, *, verbose: bool = True) -> AwsSolutionsChecks:
    checks = AwsSolutionsChecks(app, verbose=verbose)
    Validations.of(app).add_plugins(checks)
    return checks
