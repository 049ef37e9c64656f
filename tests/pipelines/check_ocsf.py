"""Reads a JSON array of OCSF events on stdin and validates each with py-ocsf-models'
ComplianceFinding model (the OCSF model library Prowler publishes). Prints one line per
rejected event (its index and pydantic's errors) and exits 1 if any was rejected."""

import json
import sys

from py_ocsf_models.events.findings.compliance_finding import ComplianceFinding

events = json.load(sys.stdin)
bad = 0
for i, event in enumerate(events):
    try:
        ComplianceFinding.model_validate(event)
    except Exception as e:  # pydantic.ValidationError, reported whole
        bad += 1
        print(f"event {i}: {e}".replace("\n", " | "))
print(f"{len(events) - bad} of {len(events)} accepted")
sys.exit(1 if bad else 0)
