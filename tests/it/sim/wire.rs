//! Wire formats: form-encoded query requests in, XML (EC2, ELBv2, STS) and JSON 1.1
//! (Organizations) out, with each protocol's error shape.

use super::http::{Delivery, Response};

/// Decoded `application/x-www-form-urlencoded` parameters of a query-protocol request.
pub struct Params(pub Vec<(String, String)>);

impl Params {
    pub fn parse(body: &[u8]) -> Params {
        Params(
            form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn usize(&self, key: &str) -> Option<usize> {
        self.get(key).and_then(|v| v.parse().ok())
    }

    /// A list serialised as `Prefix.1`, `Prefix.2`, … (EC2) or `Prefix.member.1`, … (ELBv2).
    pub fn list(&self, prefix: &str) -> Vec<String> {
        let mut v: Vec<(usize, String)> = self
            .0
            .iter()
            .filter_map(|(k, val)| {
                let n = k.strip_prefix(prefix)?.strip_prefix('.')?;
                Some((n.parse().ok()?, val.clone()))
            })
            .collect();
        v.sort();
        v.into_iter().map(|(_, x)| x).collect()
    }

    /// EC2 filters: `Filter.N.Name` with `Filter.N.Value.M`.
    pub fn filter(&self, name: &str) -> Option<Vec<String>> {
        (1..=20).find_map(|n| {
            (self.get(&format!("Filter.{n}.Name")) == Some(name))
                .then(|| self.list(&format!("Filter.{n}.Value")))
        })
    }
}

/// An XML document under construction. Element names are trusted; text is escaped.
#[derive(Default)]
pub struct Xml(pub String);

impl Xml {
    pub fn open(&mut self, tag: &str) -> &mut Self {
        self.0.push('<');
        self.0.push_str(tag);
        self.0.push('>');
        self
    }
    pub fn close(&mut self, tag: &str) -> &mut Self {
        self.0.push_str("</");
        self.0.push_str(tag);
        self.0.push('>');
        self
    }
    pub fn leaf(&mut self, tag: &str, text: impl std::fmt::Display) -> &mut Self {
        self.open(tag);
        for c in text.to_string().chars() {
            match c {
                '<' => self.0.push_str("&lt;"),
                '>' => self.0.push_str("&gt;"),
                '&' => self.0.push_str("&amp;"),
                '"' => self.0.push_str("&quot;"),
                '\'' => self.0.push_str("&apos;"),
                c => self.0.push(c),
            }
        }
        self.close(tag)
    }
    pub fn opt(&mut self, tag: &str, text: Option<impl std::fmt::Display>) -> &mut Self {
        if let Some(t) = text {
            self.leaf(tag, t);
        }
        self
    }
    /// `<tag><item>a</item>…</tag>` (EC2) or with `member` (ELBv2).
    pub fn list<S: std::fmt::Display>(&mut self, tag: &str, item: &str, values: &[S]) -> &mut Self {
        self.open(tag);
        for v in values {
            self.leaf(item, v);
        }
        self.close(tag)
    }
}

pub fn request_id(n: u64) -> String {
    format!("00000000-0000-4000-8000-{n:012x}")
}

fn response(status: u16, content_type: &'static str, body: String) -> Response {
    Response {
        status,
        content_type,
        extra_headers: Vec::new(),
        body: body.into_bytes(),
        delivery: Delivery::Normal,
    }
}

/// An error page as a proxy or load balancer in front of a service sends it: HTML, not the
/// service's error document.
pub fn html_error(status: u16) -> Response {
    response(
        status,
        "text/html",
        format!(
            "<!DOCTYPE html>\n<html><head><title>{status} Internal Server Error</title></head>\n\
             <body><h1>Internal Server Error</h1></body></html>\n"
        ),
    )
}

pub const EC2_NS: &str = "http://ec2.amazonaws.com/doc/2016-11-15/";
pub const ELB_NS: &str = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/";
pub const STS_NS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// EC2's success shape: `<ActionResponse><requestId/>…</ActionResponse>`.
pub fn ec2_ok(action: &str, id: u64, inner: &str) -> Response {
    response(
        200,
        "text/xml;charset=UTF-8",
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{action}Response xmlns=\"{EC2_NS}\"><requestId>{}</requestId>{inner}</{action}Response>",
            request_id(id)
        ),
    )
}

/// The AWS query protocol's success shape (ELBv2, STS).
pub fn query_ok(action: &str, ns: &str, id: u64, inner: &str) -> Response {
    response(
        200,
        "text/xml",
        format!(
            "<{action}Response xmlns=\"{ns}\"><{action}Result>{inner}</{action}Result><ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></{action}Response>",
            request_id(id)
        ),
    )
}

pub fn json_ok(v: &serde_json::Value) -> Response {
    response(200, "application/x-amz-json-1.1", v.to_string())
}

/// The protocol a service speaks, for its error shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Ec2,
    Query,
    Json,
}

/// An error in the protocol's own shape.
pub fn error(p: Protocol, status: u16, code: &str, message: &str, id: u64) -> Response {
    let mut x = Xml::default();
    match p {
        Protocol::Ec2 => {
            x.0.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
            x.open("Response").open("Errors").open("Error");
            x.leaf("Code", code).leaf("Message", message);
            x.close("Error")
                .close("Errors")
                .leaf("RequestID", request_id(id));
            x.close("Response");
            response(status, "text/xml;charset=UTF-8", x.0)
        }
        Protocol::Query => {
            x.0.push_str("<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\">");
            x.open("Error");
            let kind = if status >= 500 { "Receiver" } else { "Sender" };
            x.leaf("Type", kind)
                .leaf("Code", code)
                .leaf("Message", message);
            x.close("Error").leaf("RequestId", request_id(id));
            x.close("ErrorResponse");
            response(status, "text/xml", x.0)
        }
        Protocol::Json => {
            let mut r = response(
                status,
                "application/x-amz-json-1.1",
                serde_json::json!({ "__type": code, "Message": message }).to_string(),
            );
            r.extra_headers.push(("x-amzn-requestid", request_id(id)));
            r
        }
    }
}
