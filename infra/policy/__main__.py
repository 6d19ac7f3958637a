"""The Koha platform policy pack: `pulumi preview --policy-pack infra/policy`.

Every rule is mandatory; the logic lives in rules.py (one resource) and graph.py (the
whole stack), where the tests call it directly. graph.py reads koha_infra/regions.py:
`invoke infra.preview` and `infra.up` run the pack with infra/ on PYTHONPATH.
"""

from graph import STACK_RULES, Graph
from pulumi_policy import (
    EnforcementLevel,
    PolicyPack,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from rules import RESOURCE_RULES, s3_buckets_complete


def _resource_policy(name, description, fn):
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation):
        for message in fn(args.resource_type, args.props):
            report_violation(message)

    return ResourceValidationPolicy(name=name, description=description, validate=validate,
                                    enforcement_level=EnforcementLevel.MANDATORY)


def _stack_policy(name, description, fn):
    def validate(args: StackValidationArgs, report_violation: ReportViolation):
        # a stack policy sees each resource's outputs: what the clouds resolve references to
        for message in fn(Graph((r.resource_type, r.name, r.props) for r in args.resources)):
            report_violation(message)

    return StackValidationPolicy(name=name, description=description, validate=validate,
                                 enforcement_level=EnforcementLevel.MANDATORY)


def _s3_complete(args: StackValidationArgs, report_violation: ReportViolation):
    for message in s3_buckets_complete(
            (r.resource_type, r.name, r.props) for r in args.resources):
        report_violation(message)


PolicyPack(
    name="koha-platform",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[*(_resource_policy(n, d, fn) for n, (d, fn) in RESOURCE_RULES.items()),
              StackValidationPolicy(name="s3-buckets-complete",
                                    description="Every S3 bucket is versioned, encrypted, "
                                                "public-access-blocked and TLS-only.",
                                    validate=_s3_complete,
                                    enforcement_level=EnforcementLevel.MANDATORY),
              *(_stack_policy(n, d, fn) for n, (d, fn) in STACK_RULES.items())],
)
