"""Reads a JSON array of ASFF findings on stdin and checks each batch of 100 (the most
BatchImportFindings takes) against AWS's own model of the call, from botocore:

- botocore's parameter validator, the one the AWS SDK for Python and the AWS CLI run before
  sending: required members, types, minimum lengths and list sizes;
- what that validator leaves out: enum values (Severity.Label, Compliance.Status,
  RecordState, Workflow.Status, …), maximum lengths and sizes given in the model, and the
  `.*\\S.*` patterns, walked over the model's shapes.

Prints one line per problem and exits 1 if there is any."""

import json
import re
import sys

import botocore.session
from botocore.validate import ParamValidationError, validate_parameters

model = botocore.session.get_session().get_service_model("securityhub")
op = model.operation_model("BatchImportFindings")
findings_shape = op.input_shape.members["Findings"]
max_batch = findings_shape.metadata.get("max", 100)

problems = []


def walk(value, shape, path):
    t = shape.type_name
    meta = shape.metadata
    if t == "structure":
        if not isinstance(value, dict):
            return problems.append(f"{path}: not an object")
        for name in value:
            if name not in shape.members:
                problems.append(f"{path}.{name}: not in {shape.name}")
        for name, member in shape.members.items():
            if name in value:
                walk(value[name], member, f"{path}.{name}")
    elif t == "list":
        if "max" in meta and len(value) > meta["max"]:
            problems.append(f"{path}: {len(value)} items, at most {meta['max']}")
        for i, v in enumerate(value):
            walk(v, shape.member, f"{path}[{i}]")
    elif t == "map":
        for k, v in value.items():
            walk(k, shape.key, f"{path} key {k!r}")
            walk(v, shape.value, f"{path}[{k!r}]")
    elif t == "string":
        if shape.enum and value not in shape.enum:
            problems.append(f"{path}: {value!r} is not one of {shape.enum}")
        if "max" in meta and len(value) > meta["max"]:
            problems.append(f"{path}: {len(value)} characters, at most {meta['max']}")
        if "pattern" in meta and not re.fullmatch(meta["pattern"], value, re.S):
            problems.append(f"{path}: {value!r} does not match {meta['pattern']}")


findings = json.load(sys.stdin)
for start in range(0, len(findings), max_batch):
    batch = findings[start : start + max_batch]
    try:
        validate_parameters({"Findings": batch}, op.input_shape)
    except ParamValidationError as e:
        problems.append(f"batch from {start}: {e}".replace("\n", " | "))
    for i, f in enumerate(batch):
        walk(f, findings_shape.member, f"[{start + i}]")
for p in problems:
    print(p)
print(f"{len(findings)} findings, {len(problems)} problems")
sys.exit(1 if problems else 0)
