#!/usr/bin/env bash
# Imports plaudit's ASFF findings (`plaudit scan --format asff -o findings.asff.json`) into
# AWS Security Hub CSPM with `aws securityhub batch-import-findings`.
#
#   import-findings.sh FINDINGS.asff.json [ROLE_NAME]
#
# Security Hub takes a finding of a custom integration only from the account the finding
# names (its AwsAccountId), in the region of its ProductArn, at most 100 findings per call.
# So the findings are grouped by account and region and sent 100 at a time: the caller's own
# account with the caller's credentials, every other account through ROLE_NAME in that
# account (a role you create that may call securityhub:BatchImportFindings; plaudit's own
# audit role is read-only and cannot). Without ROLE_NAME other accounts' findings are skipped,
# and said so. Re-importing updates findings (their Id is stable), it does not duplicate them.
#
# Needs bash, jq and the AWS CLI. Exit code 0 when every finding was imported, 1 when any
# call failed or a finding was rejected (each rejection is printed), 2 on bad usage, 3 when
# findings of other accounts were skipped (no ROLE_NAME) and the rest imported.
set -euo pipefail

if [[ $# -lt 1 || $# -gt 2 || ! -r $1 ]]; then
    echo "usage: $0 FINDINGS.asff.json [ROLE_NAME]" >&2
    exit 2
fi
file=$1
role=${2:-}
batch_size=100

jq -e 'type == "array"' "$file" >/dev/null || {
    echo "$file: not a JSON array of ASFF findings (plaudit scan --format asff)" >&2
    exit 2
}
caller=$(aws sts get-caller-identity --query Account --output text)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

status=0
imported=0
skipped=0
# One line per account and region: account, region, partition, number of findings.
jq -r 'group_by([.AwsAccountId, .Region])[]
       | [.[0].AwsAccountId, .[0].Region, (.[0].ProductArn | split(":")[1]), length]
       | @tsv' "$file" >"$work/groups"

while IFS=$'\t' read -r account region partition count; do
    if [[ $account == "$caller" ]]; then
        env_file=
    elif [[ -n $role ]]; then
        env_file="$work/creds-$account"
        if [[ ! -s $env_file ]]; then
            aws sts assume-role \
                --role-arn "arn:$partition:iam::$account:role/$role" \
                --role-session-name plaudit-import \
                --query 'Credentials.[AccessKeyId,SecretAccessKey,SessionToken]' \
                --output text >"$work/raw" || {
                echo "$account: cannot assume role $role: its $count finding(s) in $region were not imported" >&2
                status=1
                continue
            }
            read -r key secret token <"$work/raw"
            printf 'AWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\nAWS_SESSION_TOKEN=%s\n' \
                "$key" "$secret" "$token" >"$env_file"
        fi
    else
        echo "$account: $count finding(s) in $region skipped: not the caller's account (give ROLE_NAME)" >&2
        skipped=$((skipped + count))
        continue
    fi
    for ((start = 0; start < count; start += batch_size)); do
        jq -c --arg a "$account" --arg r "$region" --argjson s "$start" --argjson n "$batch_size" \
            '{Findings: ([.[] | select(.AwsAccountId == $a and .Region == $r)] | .[$s:$s + $n])}' \
            "$file" >"$work/batch.json"
        # The role's credentials are exported in this subshell only (never on a command line).
        if ! out=$(
            if [[ -n $env_file ]]; then
                set -a
                # shellcheck disable=SC1090
                . "$env_file"
                set +a
            fi
            aws securityhub batch-import-findings \
                --region "$region" --cli-input-json "file://$work/batch.json" --output json
        ); then
            echo "$account $region: batch from finding $start failed (above)" >&2
            status=1
            continue
        fi
        failed=$(jq '.FailedCount' <<<"$out")
        imported=$((imported + $(jq '.SuccessCount' <<<"$out")))
        if [[ $failed != 0 ]]; then
            jq -r '.FailedFindings[] | "\(.Id): \(.ErrorCode): \(.ErrorMessage)"' <<<"$out" >&2
            status=1
        fi
    done
done <"$work/groups"

echo "imported $imported finding(s); skipped $skipped" >&2
if [[ $status == 0 && $skipped != 0 ]]; then
    status=3
fi
exit "$status"
