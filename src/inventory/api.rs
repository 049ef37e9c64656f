//! The name of an AWS API as the coverage ledger and rules' `inputs` write it:
//! `service:Operation` (`ec2:DescribeVpcEndpoints`), or `*` for every API of an
//! account-region. Parsed once, where it enters (an inventory file, a rule file, the
//! crawler); what an API's outcome means for the rules is decided here, in one place.

use std::fmt;

use serde::{Deserialize, Serialize};

/// `service:Operation`, or `*`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Api(String);

impl Api {
    /// Every API of an account-region (a disabled region, a timeout, an SCP on everything).
    pub const ALL: &'static str = "*";

    /// Parses `service:Operation` (a lowercase service, an operation that starts with a
    /// capital) or `*`.
    pub fn parse(s: &str) -> Result<Api, String> {
        if s == Self::ALL {
            return Ok(Api(s.to_string()));
        }
        let ok = s.split_once(':').is_some_and(|(svc, op)| {
            !svc.is_empty()
                && svc
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && op.chars().next().is_some_and(|c| c.is_ascii_uppercase())
                && op.chars().all(|c| c.is_ascii_alphanumeric())
        });
        if ok {
            Ok(Api(s.to_string()))
        } else {
            Err(format!(
                "`{s}` is not an API name: `service:Operation` (e.g. `ec2:DescribeSubnets`) or `*`"
            ))
        }
    }

    /// `ec2`, `sts`…; empty for `*`.
    pub fn service(&self) -> &str {
        self.0.split_once(':').map_or("", |(s, _)| s)
    }

    /// `DescribeVpcs`…; empty for `*`.
    pub fn operation(&self) -> &str {
        self.0.split_once(':').map_or("", |(_, o)| o)
    }

    pub fn is_all(&self) -> bool {
        self.0 == Self::ALL
    }

    /// Whether a gap on this API leaves every rule input of its account (or account-region)
    /// unread: everything (`*`), entering the account (STS), or the organisation's own
    /// listings (Organizations).
    pub fn blocks_every_input(&self) -> bool {
        self.is_all() || matches!(self.service(), "sts" | "organizations")
    }

    /// Whether this is how plaudit enters an account: AssumeRole into the member role, or the
    /// scan's own credentials (GetCallerIdentity) in its own account.
    pub fn is_entry(&self) -> bool {
        matches!(self.0.as_str(), "sts:AssumeRole" | "sts:GetCallerIdentity")
    }

    /// An API name written in plaudit's own code (the crawler's ledger entries).
    pub(crate) fn known(s: &str) -> Api {
        debug_assert!(Api::parse(s).is_ok(), "{s}");
        Api(s.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Api {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Api::parse(&s)
    }
}

impl From<Api> for String {
    fn from(a: Api) -> String {
        a.0
    }
}

impl fmt::Display for Api {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::ops::Deref for Api {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for Api {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Api {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_names_are_parsed_once_and_their_meaning_is_here() {
        let a = Api::parse("ec2:DescribeVpcEndpoints").unwrap();
        assert_eq!(
            (a.service(), a.operation()),
            ("ec2", "DescribeVpcEndpoints")
        );
        assert!(!a.blocks_every_input() && !a.is_entry());
        assert!(Api::parse("sts:AssumeRole").unwrap().blocks_every_input());
        assert!(Api::parse("sts:AssumeRole").unwrap().is_entry());
        assert!(
            Api::parse("organizations:ListAccounts")
                .unwrap()
                .blocks_every_input()
        );
        assert!(Api::parse("*").unwrap().blocks_every_input());
        for bad in [
            "",
            "ec2",
            "ec2:",
            ":Describe",
            "EC2:DescribeVpcs",
            "ec2:describeVpcs",
            "ec2:Describe Vpcs",
        ] {
            assert!(Api::parse(bad).is_err(), "{bad}");
        }
        let json: Result<Api, _> = serde_json::from_str("\"ec2 DescribeVpcs\"");
        assert!(json.unwrap_err().to_string().contains("not an API name"));
    }
}
