//! The organisation's PrivateLink as a graph: who can reach what, across which accounts,
//! through which load balancers, and where it is broken.
//!
//! Nodes are consumer endpoints, endpoint services, load balancers (NLB, GWLB, ALB) and target
//! groups, each in its account (a cluster when drawn) and region, with AZ IDs (the only AZ
//! names that compare across accounts). Edges: endpoint → service (a connection, with its
//! state), service → load balancer, load balancer → target group, target group → ALB.
//! Each node carries the worst finding on it; each edge the worst finding whose cross-account
//! path runs along it. [`Graph::filter`] keeps a readable part of a large organisation;
//! [`render`] draws it (Graphviz dot, Mermaid, SVG).
//!
//! Built from an inventory and the findings of its rules: nothing here reads AWS.

pub mod render;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use crate::findings::{Finding, Severity, Status};
use crate::inventory::{Inventory, Region};

/// What a node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Endpoint,
    Service,
    LoadBalancer,
    TargetGroup,
}

/// The worst verdict on a node or an edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Health {
    /// No finding names it.
    None,
    Pass,
    Waived,
    Unknown,
    Fail(Severity),
}

impl Health {
    fn of(f: &Finding) -> Health {
        match f.status {
            Status::Pass => Health::Pass,
            Status::Waived => Health::Waived,
            Status::Unknown => Health::Unknown,
            Status::Fail => Health::Fail(f.severity),
        }
    }

    /// `fail`, `unknown`, `waived`, `pass` or `none`.
    pub fn word(self) -> &'static str {
        match self {
            Health::None => "none",
            Health::Pass => "pass",
            Health::Waived => "waived",
            Health::Unknown => "unknown",
            Health::Fail(_) => "fail",
        }
    }

    pub fn failing(self) -> bool {
        matches!(self, Health::Fail(_))
    }
}

/// A resource in the graph.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Node {
    /// Unique: the endpoint or service id, the load balancer's or target group's ARN.
    pub key: String,
    pub kind: Kind,
    pub account: String,
    pub region: String,
    /// Short name: the id, or the load balancer's / target group's name.
    pub name: String,
    /// A second line: the type, the VPC, the private DNS name, the port…
    pub detail: String,
    /// AZ IDs (sorted), where known.
    pub az_ids: Vec<String>,
    pub health: Health,
    /// The rules failing (or unknown) on it, worst first.
    pub rules: Vec<String>,
    /// Other names findings' paths use for it (service name, ARN).
    #[serde(skip)]
    aliases: Vec<String>,
}

/// A hop between two resources.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Edge {
    pub from: usize,
    pub to: usize,
    /// A connection's state (`available`, `pendingAcceptance`, …); empty for other hops.
    pub label: String,
    pub health: Health,
    pub rules: Vec<String>,
}

/// An account as drawn: a cluster with its name and OU path.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct AccountBox {
    pub name: String,
    pub ou_path: String,
    /// Outside the organisation (seen only as a connection's owner or a principal).
    pub outside: bool,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Graph {
    pub accounts: BTreeMap<String, AccountBox>,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

/// What to keep of a graph.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Services whose id or name contains one of these, and what connects to them.
    pub services: Vec<String>,
    /// Only these accounts' nodes (and their neighbours across accounts).
    pub accounts: Vec<String>,
    /// Only accounts under these OU paths (`/Workloads/Prod`, recursive).
    pub ous: Vec<String>,
    /// Only the chains that hold a failing node or edge.
    pub failing_only: bool,
    /// Around this node (id, name or ARN), within `depth` hops.
    pub around: Option<String>,
    pub depth: usize,
}

impl Graph {
    /// The PrivateLink graph of `inv`, coloured by `findings`.
    pub fn build(inv: &Inventory, findings: &[Finding]) -> Graph {
        let mut b = Builder::default();
        let members = inv.members();
        for m in &members.accounts {
            b.graph.accounts.insert(
                m.id.clone(),
                AccountBox {
                    name: m.name.clone(),
                    ou_path: m.ou_path.clone(),
                    outside: false,
                },
            );
        }
        for a in &inv.accounts {
            let e = b.graph.accounts.entry(a.id.clone()).or_default();
            if e.name.is_empty() {
                e.name = a.name.clone();
            }
            if e.ou_path.is_empty() {
                e.ou_path = a.ou_path.clone();
            }
        }
        // Providers first: services, their load balancers, target groups and ALBs.
        for a in &inv.accounts {
            for r in &a.regions {
                b.provider_side(&a.id, r);
            }
        }
        // Consumers: endpoints that reach a service in the graph, by connection or by name.
        for a in &inv.accounts {
            for r in &a.regions {
                b.consumer_side(&a.id, r);
            }
        }
        b.connections(inv);
        b.colour(findings);
        for (id, acc) in &mut b.graph.accounts {
            if !members.accounts.iter().any(|m| &m.id == id)
                && !inv.accounts.iter().any(|a| &a.id == id)
            {
                acc.outside = true;
            }
        }
        let used: BTreeSet<&str> = b.graph.nodes.iter().map(|n| n.account.as_str()).collect();
        let used: BTreeSet<String> = used.into_iter().map(str::to_string).collect();
        b.graph.accounts.retain(|id, _| used.contains(id));
        b.graph
    }

    /// The part of the graph `f` keeps: whole chains (a service with its load balancers,
    /// target groups and the endpoints connected to it), never half a chain.
    pub fn filter(&self, f: &Filter) -> Graph {
        let n = self.nodes.len();
        let adjacent = self.adjacency();
        let pieces = self.components(&adjacent);
        let mut keep = vec![true; n];
        let matches_any = |hay: &str, needles: &[String]| {
            needles
                .iter()
                .any(|x| hay.to_ascii_lowercase().contains(&x.to_ascii_lowercase()))
        };
        let keep_pieces = |keep: &mut Vec<bool>, test: &dyn Fn(&[usize]) -> bool| {
            for p in &pieces {
                if !test(p) {
                    for &i in p {
                        keep[i] = false;
                    }
                }
            }
        };
        if !f.services.is_empty() {
            keep_pieces(&mut keep, &|p| {
                p.iter().any(|&i| {
                    let node = &self.nodes[i];
                    node.kind == Kind::Service
                        && (matches_any(&node.key, &f.services)
                            || node.aliases.iter().any(|a| matches_any(a, &f.services)))
                })
            });
        }
        if !f.accounts.is_empty() {
            keep_pieces(&mut keep, &|p| {
                p.iter()
                    .any(|&i| f.accounts.contains(&self.nodes[i].account))
            });
        }
        if !f.ous.is_empty() {
            let under = |account: &str| {
                self.accounts.get(account).is_some_and(|a| {
                    f.ous.iter().any(|ou| {
                        let ou = ou.trim_end_matches('/');
                        a.ou_path == ou || a.ou_path.starts_with(&format!("{ou}/"))
                    })
                })
            };
            keep_pieces(&mut keep, &|p| {
                p.iter().any(|&i| under(&self.nodes[i].account))
            });
        }
        if f.failing_only {
            let failing_edge: BTreeSet<usize> = self
                .edges
                .iter()
                .filter(|e| e.health.failing())
                .map(|e| e.from)
                .collect();
            keep_pieces(&mut keep, &|p| {
                p.iter()
                    .any(|&i| self.nodes[i].health.failing() || failing_edge.contains(&i))
            });
        }
        if let Some(around) = &f.around {
            let start: Vec<usize> = (0..n)
                .filter(|&i| {
                    let node = &self.nodes[i];
                    node.key == *around
                        || node.name == *around
                        || node.aliases.iter().any(|a| a == around)
                })
                .collect();
            let mut dist = vec![usize::MAX; n];
            let mut queue: VecDeque<usize> = start.iter().copied().collect();
            for &s in &start {
                dist[s] = 0;
            }
            while let Some(i) = queue.pop_front() {
                if dist[i] == f.depth {
                    continue;
                }
                for &m in &adjacent[i] {
                    if dist[m] == usize::MAX {
                        dist[m] = dist[i] + 1;
                        queue.push_back(m);
                    }
                }
            }
            for i in 0..n {
                keep[i] = keep[i] && dist[i] != usize::MAX;
            }
        }
        self.subgraph(&keep)
    }

    fn subgraph(&self, keep: &[bool]) -> Graph {
        let mut index = vec![usize::MAX; self.nodes.len()];
        let mut out = Graph::default();
        for (i, node) in self.nodes.iter().enumerate() {
            if keep[i] {
                index[i] = out.nodes.len();
                out.nodes.push(node.clone());
            }
        }
        for e in &self.edges {
            if keep[e.from] && keep[e.to] {
                out.edges.push(Edge {
                    from: index[e.from],
                    to: index[e.to],
                    ..e.clone()
                });
            }
        }
        for node in &out.nodes {
            if let Some(a) = self.accounts.get(&node.account) {
                out.accounts.insert(node.account.clone(), a.clone());
            }
        }
        out
    }

    /// The connected pieces (a service's chain with its consumers), each as a graph of its
    /// own, worst first (then in the graph's order).
    pub fn pieces(&self) -> Vec<Graph> {
        let n = self.nodes.len();
        let mut pieces: Vec<(Health, Graph)> = Vec::new();
        for members in self.components(&self.adjacency()) {
            let mut keep = vec![false; n];
            for &m in &members {
                keep[m] = true;
            }
            let piece = self.subgraph(&keep);
            let worst = piece
                .nodes
                .iter()
                .map(|x| x.health)
                .chain(piece.edges.iter().map(|e| e.health))
                .max()
                .unwrap_or(Health::None);
            pieces.push((worst, piece));
        }
        // Stable: equal health keeps the graph's order.
        pieces.sort_by_key(|p| std::cmp::Reverse(p.0));
        pieces.into_iter().map(|(_, g)| g).collect()
    }

    /// Each node's neighbours, either way along the edges.
    fn adjacency(&self) -> Vec<Vec<usize>> {
        let mut adjacent: Vec<Vec<usize>> = vec![Vec::new(); self.nodes.len()];
        for e in &self.edges {
            adjacent[e.from].push(e.to);
            adjacent[e.to].push(e.from);
        }
        adjacent
    }

    /// The connected pieces, as node indices: a service's whole chain, with its consumers.
    fn components(&self, adjacent: &[Vec<usize>]) -> Vec<Vec<usize>> {
        let mut seen = vec![false; self.nodes.len()];
        let mut pieces = Vec::new();
        for start in 0..self.nodes.len() {
            if seen[start] {
                continue;
            }
            seen[start] = true;
            let mut members = vec![start];
            let mut i = 0;
            while i < members.len() {
                for &m in &adjacent[members[i]] {
                    if !seen[m] {
                        seen[m] = true;
                        members.push(m);
                    }
                }
                i += 1;
            }
            pieces.push(members);
        }
        pieces
    }

    /// The pieces that hold a failing node or hop and a service, worst first.
    pub fn failing_pieces(&self) -> Vec<Graph> {
        self.pieces()
            .into_iter()
            .filter(|g| {
                g.nodes.iter().any(|x| x.kind == Kind::Service)
                    && (g.nodes.iter().any(|x| x.health.failing())
                        || g.edges.iter().any(|e| e.health.failing()))
            })
            .collect()
    }

    /// A node by its key, id, name or an alias.
    pub fn find(&self, name: &str) -> Option<&Node> {
        self.nodes
            .iter()
            .find(|n| n.key == name || n.name == name || n.aliases.iter().any(|a| a == name))
    }
}

/// A failing service's chain drawn for the HTML report.
#[derive(Debug, Clone)]
pub struct Picture {
    /// The services in it (ids).
    pub services: Vec<String>,
    pub svg: String,
    /// Every resource in it (ids and ARNs), to list its findings beside it.
    pub resources: BTreeSet<String>,
}

/// At most `max` pictures of failing chains, worst first, and how many were left out.
pub fn failing_pictures(
    inv: &Inventory,
    findings: &[Finding],
    max: usize,
) -> (Vec<Picture>, usize) {
    let pieces = Graph::build(inv, findings).failing_pieces();
    let left_out = pieces.len().saturating_sub(max);
    let mut out = Vec::new();
    for (i, g) in pieces.into_iter().take(max).enumerate() {
        let Ok(svg) = render::svg_with_ids(&g, &format!("plaudit-p{i}")) else {
            continue;
        };
        out.push(Picture {
            services: g
                .nodes
                .iter()
                .filter(|n| n.kind == Kind::Service)
                .map(|n| n.key.clone())
                .collect(),
            svg,
            resources: g.nodes.iter().map(|n| n.key.clone()).collect(),
        });
    }
    (out, left_out)
}

#[derive(Default)]
struct Builder {
    graph: Graph,
    by_key: HashMap<String, usize>,
    /// Service name → node.
    service_names: HashMap<String, usize>,
    /// (from, to) → the edge's index.
    edges: HashMap<(usize, usize), usize>,
}

impl Builder {
    fn node(&mut self, n: Node) -> usize {
        if let Some(&i) = self.by_key.get(&n.key) {
            return i;
        }
        let i = self.graph.nodes.len();
        self.by_key.insert(n.key.clone(), i);
        self.graph.nodes.push(n);
        i
    }

    fn edge(&mut self, from: usize, to: usize, label: &str) {
        if let std::collections::hash_map::Entry::Vacant(v) = self.edges.entry((from, to)) {
            v.insert(self.graph.edges.len());
            self.graph.edges.push(Edge {
                from,
                to,
                label: label.to_string(),
                health: Health::None,
                rules: Vec::new(),
            });
        }
    }

    fn provider_side(&mut self, account: &str, r: &Region) {
        let new = |key: &str, kind, name: &str, detail: String, az_ids: Vec<String>| Node {
            key: key.to_string(),
            kind,
            account: account.to_string(),
            region: r.name.clone(),
            name: name.to_string(),
            detail,
            az_ids: sorted(az_ids),
            health: Health::None,
            rules: Vec::new(),
            aliases: Vec::new(),
        };
        for s in &r.endpoint_services {
            let azs: Vec<String> = s.availability_zones.iter().map(|z| az_id(r, z)).collect();
            let mut node = new(
                &s.id,
                Kind::Service,
                &s.id,
                s.private_dns_name.clone().unwrap_or_default(),
                azs,
            );
            node.aliases.push(s.name.clone());
            let si = self.node(node);
            self.service_names.insert(s.name.clone(), si);
            for arn in s
                .network_load_balancer_arns
                .iter()
                .chain(&s.gateway_load_balancer_arns)
            {
                let li = self.load_balancer(account, r, arn);
                self.edge(si, li, "");
            }
        }
    }

    /// A load balancer of the service's account-region, with what it forwards to.
    fn load_balancer(&mut self, account: &str, r: &Region, arn: &str) -> usize {
        if let Some(&i) = self.by_key.get(arn) {
            return i;
        }
        let lb = r.load_balancers.iter().find(|l| l.arn == arn);
        let (name, detail, azs) = match lb {
            Some(l) => (
                l.name.clone(),
                l.lb_type.clone(),
                l.availability_zones
                    .iter()
                    .map(|z| z.id.clone().unwrap_or_else(|| az_id(r, &z.name)))
                    .collect(),
            ),
            None => (short_arn(arn), "not read".to_string(), Vec::new()),
        };
        let li = self.node(Node {
            key: arn.to_string(),
            kind: Kind::LoadBalancer,
            account: account.to_string(),
            region: r.name.clone(),
            name,
            detail,
            az_ids: sorted(azs),
            health: Health::None,
            rules: Vec::new(),
            aliases: Vec::new(),
        });
        let mut groups: Vec<&str> = lb
            .map(|l| {
                l.listeners
                    .iter()
                    .flat_map(|x| x.target_group_arns.iter().map(String::as_str))
                    .collect()
            })
            .unwrap_or_default();
        groups.extend(
            r.target_groups
                .iter()
                .filter(|t| t.load_balancer_arns.iter().any(|a| a == arn))
                .map(|t| t.arn.as_str()),
        );
        groups.sort();
        groups.dedup();
        for tg_arn in groups {
            let Some(tg) = r.target_groups.iter().find(|t| t.arn == tg_arn) else {
                continue;
            };
            let detail = match (&tg.protocol, tg.port) {
                (Some(p), Some(port)) => format!("{p} {port}"),
                _ => tg.target_type.clone(),
            };
            let ti = self.node(Node {
                key: tg.arn.clone(),
                kind: Kind::TargetGroup,
                account: account.to_string(),
                region: r.name.clone(),
                name: tg.name.clone(),
                detail,
                az_ids: Vec::new(),
                health: Health::None,
                rules: Vec::new(),
                aliases: Vec::new(),
            });
            self.edge(li, ti, "");
            if tg.target_type == "alb" {
                for t in &tg.targets {
                    let ai = self.load_balancer(account, r, &t.id);
                    self.edge(ti, ai, "");
                }
            }
        }
        li
    }

    fn consumer_side(&mut self, account: &str, r: &Region) {
        for e in &r.vpc_endpoints {
            if !e.reaches_endpoint_service() {
                continue;
            }
            let Some(&si) = self.service_names.get(&e.service_name) else {
                continue;
            };
            let azs: Vec<String> = e
                .subnet_ids
                .iter()
                .filter_map(|s| r.subnets.iter().find(|x| &x.id == s))
                .map(|s| {
                    s.availability_zone_id
                        .clone()
                        .unwrap_or_else(|| az_id(r, &s.availability_zone))
                })
                .collect();
            let ei = self.endpoint(account, &r.name, &e.id, &e.vpc_id, azs);
            self.edge(ei, si, &e.state);
        }
    }

    fn endpoint(
        &mut self,
        account: &str,
        region: &str,
        id: &str,
        detail: &str,
        azs: Vec<String>,
    ) -> usize {
        self.node(Node {
            key: id.to_string(),
            kind: Kind::Endpoint,
            account: account.to_string(),
            region: region.to_string(),
            name: id.to_string(),
            detail: detail.to_string(),
            az_ids: sorted(azs),
            health: Health::None,
            rules: Vec::new(),
            aliases: Vec::new(),
        })
    }

    /// The provider's view: every connection, including those of endpoints in accounts
    /// plaudit did not read (outside the organisation, or a gap). The provider's state wins
    /// over the consumer's label.
    fn connections(&mut self, inv: &Inventory) {
        for a in &inv.accounts {
            for r in &a.regions {
                for s in &r.endpoint_services {
                    let Some(&si) = self.by_key.get(&s.id) else {
                        continue;
                    };
                    for c in &s.connections {
                        let region = c.endpoint_region.clone().unwrap_or_else(|| r.name.clone());
                        let ei = match self.by_key.get(&c.endpoint_id) {
                            Some(&i) => i,
                            None => {
                                self.graph
                                    .accounts
                                    .entry(c.endpoint_owner.clone())
                                    .or_default();
                                self.endpoint(
                                    &c.endpoint_owner,
                                    &region,
                                    &c.endpoint_id,
                                    "not read",
                                    Vec::new(),
                                )
                            }
                        };
                        match self.edges.get(&(ei, si)) {
                            Some(&i) => self.graph.edges[i].label = c.state.clone(),
                            None => self.edge(ei, si, &c.state),
                        }
                    }
                }
            }
        }
    }

    /// Each node's worst finding, and each edge's worst finding among those whose path runs
    /// along it.
    fn colour(&mut self, findings: &[Finding]) {
        let mut names: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, n) in self.graph.nodes.iter().enumerate() {
            names.entry(n.key.as_str()).or_default().push(i);
            if n.name != n.key {
                names.entry(n.name.as_str()).or_default().push(i);
            }
            for a in &n.aliases {
                names.entry(a.as_str()).or_default().push(i);
            }
        }
        let mut node_findings: Vec<Vec<&Finding>> = vec![Vec::new(); self.graph.nodes.len()];
        let mut edge_findings: Vec<Vec<&Finding>> = vec![Vec::new(); self.graph.edges.len()];
        // Each node's edges, with the node at their other end.
        let mut touching: Vec<Vec<(usize, usize)>> = vec![Vec::new(); self.graph.nodes.len()];
        for (i, e) in self.graph.edges.iter().enumerate() {
            touching[e.from].push((i, e.to));
            touching[e.to].push((i, e.from));
        }
        for f in findings {
            let mut on: BTreeSet<usize> = BTreeSet::new();
            for id in [&f.resource_id, &f.resource_arn] {
                if let Some(&i) = self.by_key.get(id.as_str()) {
                    on.insert(i);
                }
            }
            for i in on {
                node_findings[i].push(f);
            }
            // A path: `a (…) -> b (…) -> c`, each hop named by its first word.
            let Some(path) = &f.path else { continue };
            let hops: Vec<&str> = path
                .split(" -> ")
                .filter_map(|h| h.split_whitespace().next())
                .collect();
            for pair in hops.windows(2) {
                let Some(a) = names.get(pair[0]) else {
                    continue;
                };
                let named = |y: usize, name: &str| {
                    let n = &self.graph.nodes[y];
                    n.key == name || n.name == name || n.aliases.iter().any(|x| x == name)
                };
                // Names (a load balancer's, a target group's) repeat across accounts: a hop
                // is looked for from the finding's own account's resources when it has one,
                // and only along the edges at hand (never every pair of namesakes).
                let own: Vec<usize> = a
                    .iter()
                    .copied()
                    .filter(|&x| self.graph.nodes[x].account == f.account_id)
                    .collect();
                let from = if own.is_empty() { a.clone() } else { own };
                for x in from {
                    for &(ei, y) in &touching[x] {
                        if named(y, pair[1]) {
                            edge_findings[ei].push(f);
                        }
                    }
                }
            }
        }
        for (n, fs) in self.graph.nodes.iter_mut().zip(&node_findings) {
            (n.health, n.rules) = worst(fs);
        }
        for (e, fs) in self.graph.edges.iter_mut().zip(&edge_findings) {
            (e.health, e.rules) = worst(fs);
        }
    }
}

/// The worst health among findings, and the rules not passing, worst first.
fn worst(fs: &[&Finding]) -> (Health, Vec<String>) {
    let health = fs
        .iter()
        .map(|f| Health::of(f))
        .max()
        .unwrap_or(Health::None);
    let mut bad: Vec<(Health, &str)> = fs
        .iter()
        .filter(|f| matches!(f.status, Status::Fail | Status::Unknown | Status::Waived))
        .map(|f| (Health::of(f), f.rule_id.as_str()))
        .collect();
    bad.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
    let mut rules: Vec<String> = Vec::new();
    for (_, r) in bad {
        if !rules.iter().any(|x| x == r) {
            rules.push(r.to_string());
        }
    }
    (health, rules)
}

/// The AZ ID of an AZ name in this account-region (names differ between accounts; IDs do
/// not); the name itself where the account's AZ map was not read.
fn az_id(r: &Region, name: &str) -> String {
    r.availability_zones
        .iter()
        .find(|z| z.name == name)
        .map(|z| z.id.clone())
        .unwrap_or_else(|| name.to_string())
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v.dedup();
    v
}

/// `app/ledger-alb/7c9e…` → `ledger-alb`.
fn short_arn(arn: &str) -> String {
    let tail = arn.rsplit(':').next().unwrap_or(arn);
    let parts: Vec<&str> = tail.split('/').collect();
    match parts.as_slice() {
        [_, _, name, _] => (*name).to_string(),
        [_, name, _] => (*name).to_string(),
        _ => tail.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo() -> (Inventory, Vec<Finding>) {
        let inv: Inventory = serde_json::from_str(include_str!("../../examples/demo-org.json"))
            .expect("the demo inventory");
        let set = crate::rules::load_all(&[], true).expect("built-in rules");
        let store = crate::store::Store::load(&inv).unwrap();
        let ev = crate::rules::eval::evaluate(&set, &store, &inv);
        (inv, ev.findings)
    }

    #[test]
    fn the_demo_chain_runs_from_consumer_endpoints_through_nlb_and_alb() {
        let (inv, findings) = demo();
        let g = Graph::build(&inv, &findings);
        let service = g
            .find("vpce-svc-0f9e8d7c6b5a43210")
            .expect("the ledger service");
        assert_eq!(service.account, "333333333333");
        assert!(service.health.failing(), "{service:?}");
        assert!(
            service
                .rules
                .contains(&"private-dns-unverified".to_string())
        );
        assert!(!service.az_ids.is_empty() && service.az_ids.iter().all(|z| z.contains("-az")));
        // NLB → target group → ALB, and the ALB's security-group finding on its hops.
        let hop = |a: &str, b: &str| {
            let (x, y) = (g.find(a).unwrap(), g.find(b).unwrap());
            let (x, y) = (
                g.nodes.iter().position(|n| n.key == x.key).unwrap(),
                g.nodes.iter().position(|n| n.key == y.key).unwrap(),
            );
            g.edges.iter().find(|e| e.from == x && e.to == y).cloned()
        };
        let nlb_tg = hop("ledger-nlb", "ledger-to-alb").expect("NLB → target group");
        let tg_alb = hop("ledger-to-alb", "ledger-alb").expect("target group → ALB");
        for e in [&nlb_tg, &tg_alb] {
            assert!(e.health.failing(), "{e:?}");
            assert_eq!(e.rules, vec!["alb-sg-blocks-nlb".to_string()]);
        }
        assert!(hop("vpce-svc-0f9e8d7c6b5a43210", "ledger-nlb").is_some());
        // The consumer in another account, and one outside the organisation (a connection
        // the provider sees).
        let web = hop("vpce-0web0led000000001", "vpce-svc-0f9e8d7c6b5a43210").unwrap();
        assert_eq!(web.label, "available");
        let ext = g
            .find("vpce-0ext0led000000001")
            .expect("the outside consumer");
        assert!(g.accounts[&ext.account].outside);
        assert!(!g.accounts["333333333333"].outside);
        // No endpoint to an AWS service (S3) is drawn: it is not PrivateLink to the org.
        assert!(g.find("vpce-0web0s3i000000001").is_none());
    }

    #[test]
    fn filters_keep_whole_chains() {
        let (inv, findings) = demo();
        let g = Graph::build(&inv, &findings);
        let one = g.filter(&Filter {
            services: vec!["0f9e8d7c6b5a43210".into()],
            ..Filter::default()
        });
        assert!(one.find("vpce-svc-0f9e8d7c6b5a43210").is_some());
        assert!(
            one.find("ledger-alb").is_some(),
            "the chain behind the service"
        );
        assert!(
            one.find("vpce-0web0led000000001").is_some(),
            "its consumers"
        );
        assert!(one.find("vpce-svc-0a1b2c3d4e5f60718").is_none());
        for e in &one.edges {
            assert!(e.from < one.nodes.len() && e.to < one.nodes.len());
        }
        // Every chain of the demo fails somewhere; make the us-west-2 one pass throughout.
        let mut healed = g.clone();
        for n in healed.nodes.iter_mut().filter(|n| n.region == "us-west-2") {
            n.health = Health::Pass;
        }
        let west: BTreeSet<usize> = (0..healed.nodes.len())
            .filter(|&i| healed.nodes[i].region == "us-west-2")
            .collect();
        for e in healed.edges.iter_mut() {
            if west.contains(&e.from) || west.contains(&e.to) {
                e.health = Health::Pass;
            }
        }
        let failing = healed.filter(&Filter {
            failing_only: true,
            ..Filter::default()
        });
        assert!(
            failing.find("vpce-svc-0c2d4e6f8a0b1c2d3").is_none(),
            "a passing chain"
        );
        assert!(
            failing.find("vpce-svc-0f9e8d7c6b5a43210").is_some(),
            "a failing one"
        );
        let near = g.filter(&Filter {
            around: Some("ledger-nlb".into()),
            depth: 1,
            ..Filter::default()
        });
        let names: BTreeSet<&str> = near.nodes.iter().map(|n| n.name.as_str()).collect();
        assert!(names.contains("ledger-nlb") && names.contains("vpce-svc-0f9e8d7c6b5a43210"));
        assert!(!names.contains("ledger-alb"), "two hops away: {names:?}");
        let none = g.filter(&Filter {
            accounts: vec!["000000000000".into()],
            ..Filter::default()
        });
        assert!(none.nodes.is_empty() && none.accounts.is_empty());
    }

    #[test]
    fn short_names_of_load_balancer_arns() {
        assert_eq!(
            short_arn("arn:aws:elasticloadbalancing:eu-west-1:1:loadbalancer/net/ledger-nlb/abc"),
            "ledger-nlb"
        );
        assert_eq!(
            short_arn("arn:aws:elasticloadbalancing:eu-west-1:1:targetgroup/tg/abc"),
            "tg"
        );
    }
}
