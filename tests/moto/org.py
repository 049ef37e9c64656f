"""A seeded AWS organisation on moto, for plaudit's crawler tests.

Starts moto's server in-process on 127.0.0.1 (a free port), fills the gaps plaudit needs and
moto lacks, seeds an organisation with cross-account PrivateLink, prints one JSON line
(the port, the account ids and the expected verdicts) and serves until its stdin closes.

moto's gaps covered here:
- DescribeVpcEndpointConnections is not implemented: answered from every account's endpoints
  in the region that point at this account's services;
- AssumeRole never fails: roles in DENIED accounts answer AccessDenied;
- private DNS is always "verified": names under unverified.example.com are pendingVerification.
Not covered here (moto cannot): per-account AZ name remapping, MaxResults on several EC2 calls.
Those are covered by the rule tests and unit tests.
"""

import json
import socket
import sys

import boto3
from moto.core.responses import ActionResult
from moto.ec2.models import ec2_backends
from moto.ec2.models.vpc_service_configuration import VPCServiceConfiguration
from moto.ec2.responses import EC2Response
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.sts.exceptions import STSClientError
from moto.sts.responses import TokenResponse

DENIED = set()


def describe_vpc_endpoint_connections(self):
    mine = {c.service_name: c for c in self.ec2_backend.configurations.values()}
    conns = []
    for account_id in list(ec2_backends.keys()):
        backend = ec2_backends[account_id][self.region]
        for ep in backend.vpc_end_points.values():
            svc = mine.get(ep.service_name)
            if svc is None:
                continue
            conns.append(
                {
                    "ServiceId": svc.id,
                    "VpcEndpointId": ep.id,
                    "VpcEndpointOwner": account_id,
                    "VpcEndpointState": ep.state,
                    "CreationTimestamp": ep.creation_timestamp,
                }
            )
    return ActionResult({"VpcEndpointConnections": conns})


EC2Response.describe_vpc_endpoint_connections = describe_vpc_endpoint_connections

_original_assume_role = TokenResponse.assume_role


def assume_role(self):
    arn = self._get_param("RoleArn") or ""
    if arn.split(":")[4:5] and arn.split(":")[4] in DENIED:
        raise STSClientError(
            "AccessDenied",
            f"User is not authorized to perform: sts:AssumeRole on resource: {arn}",
        )
    return _original_assume_role(self)


TokenResponse.assume_role = assume_role


def private_dns_name_configuration(self):
    if not self.private_dns_name:
        return {}
    state = (
        "pendingVerification"
        if self.private_dns_name.endswith("unverified.example.com")
        else "verified"
    )
    return {"State": state, "Type": "TXT", "Value": f"vpce:{self.id}", "Name": "_verify"}


VPCServiceConfiguration.private_dns_name_configuration = property(private_dns_name_configuration)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def seed(endpoint):
    creds = dict(aws_access_key_id="testing", aws_secret_access_key="testing")

    def client(service, region="us-east-1", c=None):
        return boto3.client(service, region_name=region, endpoint_url=endpoint, **(c or creds))

    org = client("organizations")
    org.create_organization(FeatureSet="ALL")
    management = client("sts").get_caller_identity()["Account"]
    root = org.list_roots()["Roots"][0]["Id"]
    workloads = org.create_organizational_unit(ParentId=root, Name="Workloads")["OrganizationalUnit"]["Id"]
    prod = org.create_organizational_unit(ParentId=workloads, Name="Prod")["OrganizationalUnit"]["Id"]
    dev = org.create_organizational_unit(ParentId=workloads, Name="Dev")["OrganizationalUnit"]["Id"]

    ids = {}
    for name, ou in [
        ("provider", prod),
        ("consumer-a", prod),
        ("consumer-b", dev),
        ("quiet", dev),
        ("locked", dev),
        ("closed", dev),
    ]:
        st = org.create_account(Email=f"{name}@example.com", AccountName=name)["CreateAccountStatus"]
        acct = st["AccountId"]
        ids[name] = acct
        org.move_account(AccountId=acct, SourceParentId=root, DestinationParentId=ou)
    org.tag_resource(ResourceId=ids["provider"], Tags=[{"Key": "team", "Value": "payments"}])
    org.close_account(AccountId=ids["closed"])
    DENIED.add(ids["locked"])
    # The management account must be scanned with the caller's own credentials: AssumeRole
    # into it would fail.
    DENIED.add(management)

    def as_account(acct):
        if acct in DENIED:
            raise RuntimeError(f"cannot seed denied account {acct}")
        sts = client("sts")
        c = sts.assume_role(
            RoleArn=f"arn:aws:iam::{acct}:role/OrganizationAccountAccessRole", RoleSessionName="seed"
        )["Credentials"]
        return dict(
            aws_access_key_id=c["AccessKeyId"],
            aws_secret_access_key=c["SecretAccessKey"],
            aws_session_token=c["SessionToken"],
        )

    expect = {}

    def network(c, region, cidr, azs):
        ec2 = client("ec2", region, c)
        vpc = ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]
        ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
        subnets = []
        for i, az in enumerate(azs):
            prefix = cidr.split(".")
            sn = ec2.create_subnet(
                VpcId=vpc, CidrBlock=f"{prefix[0]}.{prefix[1]}.{i + 1}.0/24", AvailabilityZone=f"{region}{az}"
            )["Subnet"]
            subnets.append(sn)
        return ec2, vpc, subnets

    # The provider, us-east-1: NLB in two AZs (of six) -> ALB whose SG admits only one NLB subnet;
    # an endpoint service with an unverified private DNS name.
    p = as_account(ids["provider"])
    ec2, vpc, subnets = network(p, "us-east-1", "10.1.0.0/16", "abc")
    elb = client("elbv2", "us-east-1", p)
    alb_sg = ec2.create_security_group(GroupName="alb", Description="alb", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=alb_sg,
        IpPermissions=[{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "10.1.1.0/24"}]}],
    )
    nlb = elb.create_load_balancer(
        Name="pay-nlb", Type="network", Scheme="internal", Subnets=[subnets[0]["SubnetId"], subnets[1]["SubnetId"]]
    )["LoadBalancers"][0]["LoadBalancerArn"]
    alb = elb.create_load_balancer(
        Name="pay-alb",
        Type="application",
        Scheme="internal",
        Subnets=[subnets[0]["SubnetId"], subnets[1]["SubnetId"]],
        SecurityGroups=[alb_sg],
    )["LoadBalancers"][0]["LoadBalancerArn"]
    tg = elb.create_target_group(Name="pay-to-alb", Protocol="TCP", Port=443, VpcId=vpc, TargetType="alb")[
        "TargetGroups"
    ][0]["TargetGroupArn"]
    elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": alb, "Port": 443}])
    elb.create_listener(
        LoadBalancerArn=nlb, Protocol="TCP", Port=443, DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}]
    )
    svc = ec2.create_vpc_endpoint_service_configuration(
        NetworkLoadBalancerArns=[nlb], AcceptanceRequired=True, PrivateDnsName="pay.unverified.example.com"
    )["ServiceConfiguration"]
    ec2.modify_vpc_endpoint_service_permissions(
        ServiceId=svc["ServiceId"],
        AddAllowedPrincipals=[f"arn:aws:iam::{ids['consumer-a']}:root", f"arn:aws:iam::{ids['consumer-b']}:root"],
    )
    expect["service_use1"] = svc["ServiceId"]
    expect["service_use1_name"] = svc["ServiceName"]
    expect["alb"] = alb

    # The provider, eu-west-1: an NLB in every AZ, a verified name.
    ec2w, vpcw, subw = network(p, "eu-west-1", "10.2.0.0/16", "abc")
    elbw = client("elbv2", "eu-west-1", p)
    nlbw = elbw.create_load_balancer(
        Name="api-nlb", Type="network", Scheme="internal", Subnets=[s["SubnetId"] for s in subw]
    )["LoadBalancers"][0]["LoadBalancerArn"]
    svcw = ec2w.create_vpc_endpoint_service_configuration(
        NetworkLoadBalancerArns=[nlbw], AcceptanceRequired=False, PrivateDnsName="api.example.com"
    )["ServiceConfiguration"]
    expect["service_euw1"] = svcw["ServiceId"]

    # Consumer A, us-east-1: a VPC in a, b, c; an endpoint to the provider's service (offered
    # only in a and b) and one to S3.
    a = as_account(ids["consumer-a"])
    ec2a, vpca, suba = network(a, "us-east-1", "10.10.0.0/16", "abc")
    ep = ec2a.create_vpc_endpoint(
        VpcEndpointType="Interface",
        VpcId=vpca,
        ServiceName=svc["ServiceName"],
        SubnetIds=[s["SubnetId"] for s in suba[:2]],
        PrivateDnsEnabled=False,
    )["VpcEndpoint"]["VpcEndpointId"]
    s3 = ec2a.create_vpc_endpoint(
        VpcEndpointType="Interface",
        VpcId=vpca,
        ServiceName="com.amazonaws.us-east-1.s3",
        SubnetIds=[s["SubnetId"] for s in suba],
    )["VpcEndpoint"]["VpcEndpointId"]
    expect["endpoint_a_to_provider"] = ep
    expect["endpoint_a_to_s3"] = s3

    # Consumer B, eu-west-1: an endpoint to the provider's eu-west-1 service, and one whose
    # service no longer exists.
    b = as_account(ids["consumer-b"])
    ec2b, vpcb, subb = network(b, "eu-west-1", "10.20.0.0/16", "ab")
    epb = ec2b.create_vpc_endpoint(
        VpcEndpointType="Interface",
        VpcId=vpcb,
        ServiceName=svcw["ServiceName"],
        SubnetIds=[s["SubnetId"] for s in subb],
    )["VpcEndpoint"]["VpcEndpointId"]
    gone = ec2b.create_vpc_endpoint(
        VpcEndpointType="Interface",
        VpcId=vpcb,
        ServiceName="com.amazonaws.vpce.eu-west-1.vpce-svc-00000000deadbeef",
        SubnetIds=[subb[0]["SubnetId"]],
    )["VpcEndpoint"]["VpcEndpointId"]
    expect["endpoint_b_to_provider"] = epb
    expect["endpoint_b_dangling"] = gone

    # Quiet: a VPC and nothing PrivateLink.
    q = as_account(ids["quiet"])
    network(q, "us-east-1", "10.30.0.0/16", "a")
    return management, ids, expect


def main():
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        management, ids, expect = seed(f"http://127.0.0.1:{port}")
        print(json.dumps({"port": port, "management": management, "accounts": ids, "expect": expect}), flush=True)
        # Serve until the test process closes our stdin (or dies).
        sys.stdin.read()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
