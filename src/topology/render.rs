//! Drawing a [`Graph`]: Graphviz `dot` (accounts as clusters), Mermaid (renders in GitHub and
//! GitLab Markdown) and SVG (laid out by the `layout-rs` crate, a Graphviz-style layered
//! layout in Rust; drawn here into SVG with a tooltip per node and edge and `data-` attributes
//! naming what each shape is). Colours: the worst finding on a node or edge — failing high or
//! critical red, medium orange, low and info amber; unknown grey and dashed; waived blue;
//! passing green; no finding slate.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use layout::core::base::Orientation;
use layout::core::color::Color;
use layout::core::format::{ClipHandle, RenderBackend};
use layout::core::geometry::{Point, get_size_for_str, pad_shape_scalar};
use layout::core::style::{LineStyleKind, StyleAttr};
use layout::std_shapes::shapes::{Arrow, Element, LineEndKind, ShapeKind};
use layout::topo::layout::VisualGraph;

use super::{Edge, Graph, Health, Kind, Node};
use crate::findings::Severity;

/// A drawing format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GraphFormat {
    /// Graphviz dot (render with `dot -Tsvg`, or paste into any Graphviz viewer)
    Dot,
    /// Mermaid flowchart (renders in GitHub and GitLab Markdown)
    Mermaid,
    /// SVG, laid out by plaudit (no Graphviz needed)
    Svg,
}

/// Stroke and fill of a health.
fn colours(h: Health) -> (&'static str, &'static str) {
    match h {
        Health::Fail(Severity::Critical | Severity::High) => ("#c62828", "#ffebee"),
        Health::Fail(Severity::Medium) => ("#e65100", "#fff3e0"),
        Health::Fail(Severity::Low | Severity::Info) => ("#b7791f", "#fffde7"),
        Health::Unknown => ("#757575", "#f5f5f5"),
        Health::Waived => ("#3949ab", "#e8eaf6"),
        Health::Pass => ("#2e7d32", "#e8f5e9"),
        Health::None => ("#455a64", "#ffffff"),
    }
}

fn kind_word(k: Kind) -> &'static str {
    match k {
        Kind::Endpoint => "endpoint",
        Kind::Service => "endpoint service",
        Kind::LoadBalancer => "load balancer",
        Kind::TargetGroup => "target group",
    }
}

/// The lines of a node's label.
fn label_lines(n: &Node) -> Vec<String> {
    let mut lines = vec![n.name.clone()];
    if !n.detail.is_empty() {
        lines.push(n.detail.clone());
    }
    if !n.az_ids.is_empty() {
        lines.push(n.az_ids.join(" "));
    }
    if let Some(r) = n.rules.first() {
        let more = n.rules.len() - 1;
        lines.push(if more > 0 {
            format!("✗ {r} +{more}")
        } else {
            format!("✗ {r}")
        });
    }
    lines
}

/// What hovering shows: kind, account, region, AZ IDs, status and rules.
fn node_tooltip(g: &Graph, n: &Node) -> String {
    let account = g.accounts.get(&n.account);
    let mut t = format!(
        "{} {}\naccount {}{}\nregion {}",
        kind_word(n.kind),
        n.key,
        n.account,
        account
            .filter(|a| !a.name.is_empty())
            .map(|a| format!(" ({})", a.name))
            .unwrap_or_default(),
        n.region
    );
    if !n.az_ids.is_empty() {
        let _ = write!(t, "\nAZ IDs {}", n.az_ids.join(", "));
    }
    let _ = write!(t, "\n{}", n.health.word());
    if !n.rules.is_empty() {
        let _ = write!(t, ": {}", n.rules.join(", "));
    }
    t
}

fn edge_tooltip(g: &Graph, e: &Edge) -> String {
    let mut t = format!("{} → {}", g.nodes[e.from].name, g.nodes[e.to].name);
    if !e.label.is_empty() {
        let _ = write!(t, " ({})", e.label);
    }
    let _ = write!(t, "\n{}", e.health.word());
    if !e.rules.is_empty() {
        let _ = write!(t, ": {}", e.rules.join(", "));
    }
    t
}

fn edge_label(e: &Edge) -> String {
    match (
        e.label.is_empty(),
        e.rules.first().filter(|_| e.health.failing()),
    ) {
        (true, None) => String::new(),
        (false, None) => e.label.clone(),
        (true, Some(r)) => format!("✗ {r}"),
        (false, Some(r)) => format!("{} ✗ {r}", e.label),
    }
}

/// Nodes grouped by account, in account order.
fn by_account(g: &Graph) -> BTreeMap<&str, Vec<usize>> {
    let mut m: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, n) in g.nodes.iter().enumerate() {
        m.entry(n.account.as_str()).or_default().push(i);
    }
    m
}

/// An account's cluster label: its title, and its OU path on a second line.
fn account_label(g: &Graph, id: &str) -> String {
    match account_title(g, id) {
        (title, ou) if ou.is_empty() => title,
        (title, ou) => format!("{title}\n{ou}"),
    }
}

fn account_title(g: &Graph, id: &str) -> (String, String) {
    match g.accounts.get(id) {
        Some(a) if a.outside => (format!("{id} (outside the organisation)"), String::new()),
        Some(a) if !a.name.is_empty() => (format!("{} ({id})", a.name), a.ou_path.clone()),
        _ => (id.to_string(), String::new()),
    }
}

/// Graphviz dot.
pub fn dot(g: &Graph) -> String {
    fn q(s: &str) -> String {
        let mut out = String::with_capacity(s.len() + 2);
        out.push('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                c if c.is_control() => {}
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }
    let mut s = String::from(
        "digraph plaudit {\n  rankdir=LR;\n  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\", fontsize=11];\n  edge [fontname=\"Helvetica\", fontsize=10];\n",
    );
    for (k, (account, nodes)) in by_account(g).into_iter().enumerate() {
        let label = account_label(g, account);
        let _ = writeln!(
            s,
            "  subgraph cluster_{k} {{\n    label={};\n    style=\"rounded,dashed\";\n    color=\"#90a4ae\";",
            q(&label)
        );
        for i in nodes {
            let n = &g.nodes[i];
            let (stroke, fill) = colours(n.health);
            let _ = writeln!(
                s,
                "    n{i} [label={}, color={}, fillcolor={}, penwidth={}, tooltip={}];",
                q(&label_lines(n).join("\n")),
                q(stroke),
                q(fill),
                if n.health.failing() { 2 } else { 1 },
                q(&node_tooltip(g, n))
            );
        }
        s.push_str("  }\n");
    }
    for e in &g.edges {
        let (stroke, _) = colours(e.health);
        let _ = writeln!(
            s,
            "  n{} -> n{} [label={}, color={}, penwidth={}{}, tooltip={}];",
            e.from,
            e.to,
            q(&edge_label(e)),
            q(stroke),
            if e.health.failing() { 2 } else { 1 },
            if e.health == Health::Unknown {
                ", style=dashed"
            } else {
                ""
            },
            q(&edge_tooltip(g, e))
        );
    }
    s.push_str("}\n");
    s
}

/// A Mermaid flowchart.
pub fn mermaid(g: &Graph) -> String {
    // Mermaid's own escapes: quotes and angle brackets as entity codes, lines as <br/>.
    fn text(s: &str) -> String {
        s.chars()
            .filter(|c| !c.is_control() || *c == '\n')
            .map(|c| match c {
                '"' => "#quot;".to_string(),
                '<' => "#lt;".to_string(),
                '>' => "#gt;".to_string(),
                '\n' => "<br/>".to_string(),
                c => c.to_string(),
            })
            .collect()
    }
    let mut s = String::from("flowchart LR\n");
    for (k, (account, nodes)) in by_account(g).into_iter().enumerate() {
        let label = account_label(g, account);
        let _ = writeln!(s, "  subgraph a{k}[\"{}\"]", text(&label));
        for i in nodes {
            let _ = writeln!(
                s,
                "    n{i}[\"{}\"]",
                text(&label_lines(&g.nodes[i]).join("\n"))
            );
        }
        s.push_str("  end\n");
    }
    for e in &g.edges {
        let label = edge_label(e);
        let arrow = if e.health == Health::Unknown {
            "-.->"
        } else {
            "-->"
        };
        if label.is_empty() {
            let _ = writeln!(s, "  n{} {arrow} n{}", e.from, e.to);
        } else {
            let _ = writeln!(s, "  n{} {arrow}|\"{}\"| n{}", e.from, e.to, text(&label));
        }
    }
    let mut classes: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (i, n) in g.nodes.iter().enumerate() {
        classes
            .entry(class_of(n.health))
            .or_default()
            .push(format!("n{i}"));
    }
    for (class, nodes) in &classes {
        let h = health_of_class(class);
        let (stroke, fill) = colours(h);
        let _ = writeln!(s, "  classDef {class} fill:{fill},stroke:{stroke}");
        let _ = writeln!(s, "  class {} {class}", nodes.join(","));
    }
    for (i, e) in g.edges.iter().enumerate() {
        if e.health.failing() {
            let (stroke, _) = colours(e.health);
            let _ = writeln!(s, "  linkStyle {i} stroke:{stroke},stroke-width:2px");
        }
    }
    s
}

fn class_of(h: Health) -> &'static str {
    match h {
        Health::Fail(Severity::Critical | Severity::High) => "failHigh",
        Health::Fail(Severity::Medium) => "failMedium",
        Health::Fail(_) => "failLow",
        Health::Unknown => "unknown",
        Health::Waived => "waived",
        Health::Pass => "pass",
        Health::None => "none",
    }
}

fn health_of_class(c: &str) -> Health {
    match c {
        "failHigh" => Health::Fail(Severity::High),
        "failMedium" => Health::Fail(Severity::Medium),
        "failLow" => Health::Fail(Severity::Low),
        "unknown" => Health::Unknown,
        "waived" => Health::Waived,
        "pass" => Health::Pass,
        _ => Health::None,
    }
}

/// The most nodes one connected piece (a service's chain and its consumers) may have in an
/// SVG: the layered layout grows much faster than the number of nodes (measured: 175 nodes
/// 6 s, 438 nodes 80 s in a debug build), and a piece of more is not readable anyway. Each
/// piece is laid out on its own, so the whole picture grows with the number of pieces.
pub const SVG_MAX_PIECE_NODES: usize = 200;
/// The most nodes an SVG draws in all (a picture, not a data format).
pub const SVG_MAX_NODES: usize = 20_000;

/// SVG: each connected piece laid out by `layout-rs` and the pieces stacked, worst first.
/// Each node is a `<g class="node …">` with `data-key` (its id or ARN), `data-account`,
/// `data-health` and `data-rules`, and a `<title>` (shown on hover); each edge a
/// `<g class="edge …">` with `data-from`, `data-to` and `data-health`.
pub fn svg(g: &Graph) -> anyhow::Result<String> {
    svg_with_ids(g, "plaudit")
}

/// [`svg`] with its element ids (arrow marker, clip paths) starting with `prefix`, so that
/// several pictures can share one HTML page.
pub fn svg_with_ids(g: &Graph, prefix: &str) -> anyhow::Result<String> {
    if g.nodes.is_empty() {
        return Ok(empty_svg());
    }
    let narrow = "narrow it with --service, --account, --ou, --failing-only or --around, \
                  or draw --format dot with Graphviz";
    if g.nodes.len() > SVG_MAX_NODES {
        anyhow::bail!(
            "{} nodes are more than one SVG draws (at most {SVG_MAX_NODES}): {narrow}",
            g.nodes.len()
        );
    }
    let pieces = g.pieces();
    if let Some(big) = pieces.iter().find(|p| p.nodes.len() > SVG_MAX_PIECE_NODES) {
        let name = big
            .nodes
            .iter()
            .find(|n| n.kind == Kind::Service)
            .unwrap_or(&big.nodes[0])
            .name
            .clone();
        anyhow::bail!(
            "the chain of {name} has {} nodes, more than the SVG layout handles (at most \
             {SVG_MAX_PIECE_NODES}): draw part of it (--around {name} --depth 1, or --account), \
             or draw --format dot with Graphviz",
            big.nodes.len()
        );
    }
    let mut body = String::new();
    let mut clips = String::new();
    let (mut width, mut y) = (0.0_f64, 0.0_f64);
    for (k, piece) in pieces.iter().enumerate() {
        let w = lay_out(piece, prefix, &format!("{prefix}-{k}"))?;
        let _ = writeln!(
            body,
            "<g class=\"piece\" transform=\"translate(0,{y:.1})\">{}</g>",
            w.body
        );
        clips.push_str(&w.clips.join(""));
        width = width.max(w.size.x);
        y += w.size.y + 24.;
    }
    let (w, h) = (width.ceil(), y.ceil());
    Ok(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" \
         font-family=\"Helvetica, Arial, sans-serif\">\n<defs>\
         <marker id=\"{prefix}-arrow\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"8\" markerHeight=\"8\" orient=\"auto-start-reverse\">\
         <path d=\"M 0 0 L 10 5 L 0 10 z\" fill=\"context-stroke\"/></marker>{clips}</defs>\n\
         <rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n{body}</svg>\n"
    ))
}

/// One connected piece laid out and drawn.
fn lay_out(g: &Graph, marker: &str, clip_prefix: &str) -> anyhow::Result<SvgWriter> {
    let mut vg = VisualGraph::new(Orientation::LeftToRight);
    let mut handles = Vec::with_capacity(g.nodes.len());
    let mut groups: Vec<(String, String)> = Vec::new();
    for n in &g.nodes {
        let (stroke, fill) = colours(n.health);
        let (title, _) = account_title(g, &n.account);
        let mut lines = vec![title];
        lines.extend(label_lines(n));
        let label = lines.join("\n");
        let look = StyleAttr::new(
            colour(stroke),
            if n.health.failing() { 2 } else { 1 },
            Some(colour(fill)),
            6,
            12,
        );
        // The crate's estimate counts a character as wide and a line as high as the font;
        // with line spacing, labels need a little more.
        let est = get_size_for_str(&label, 12);
        let size = pad_shape_scalar(Point::new(est.x * 0.62, est.y * 1.25), 14.);
        let token = format!("plaudit-g{}", groups.len());
        groups.push((
            format!(
                "class=\"node {}\" data-key=\"{}\" data-account=\"{}\" data-health=\"{}\" data-rules=\"{}\"",
                n.health.word(),
                attr(&n.key),
                attr(&n.account),
                n.health.word(),
                attr(&n.rules.join(" "))
            ),
            node_tooltip(g, n),
        ));
        let el = Element::create_with_properties(
            ShapeKind::new_box(&label),
            look,
            Orientation::LeftToRight,
            size,
            token,
        );
        handles.push(vg.add_node(el));
    }
    for e in &g.edges {
        let (stroke, _) = colours(e.health);
        let look = StyleAttr::new(
            colour(stroke),
            if e.health.failing() { 2 } else { 1 },
            None,
            0,
            11,
        );
        let token = format!("plaudit-g{}", groups.len());
        groups.push((
            format!(
                "class=\"edge {}\" data-from=\"{}\" data-to=\"{}\" data-health=\"{}\" data-rules=\"{}\"",
                e.health.word(),
                attr(&g.nodes[e.from].key),
                attr(&g.nodes[e.to].key),
                e.health.word(),
                attr(&e.rules.join(" "))
            ),
            edge_tooltip(g, e),
        ));
        let style = if e.health == Health::Unknown {
            LineStyleKind::Dashed
        } else {
            LineStyleKind::Normal
        };
        let arrow = Arrow::with_properties(
            LineEndKind::None,
            LineEndKind::Arrow,
            style,
            &edge_label(e),
            &look,
            token,
            &None,
            &None,
        );
        vg.add_edge(arrow, handles[e.from], handles[e.to]);
    }
    let mut w = SvgWriter::new(groups, marker, clip_prefix);
    // The layout crate asserts its own invariants; a failure there is a bug to report, not a
    // reason to lose the user's run.
    let laid_out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        vg.do_it(false, false, false, &mut w);
        w
    }));
    match laid_out {
        Ok(mut w) => {
            w.close();
            Ok(w)
        }
        Err(_) => anyhow::bail!(
            "the SVG layout failed on this graph ({} nodes, {} edges); draw --format dot with Graphviz instead, and please report it",
            g.nodes.len(),
            g.edges.len()
        ),
    }
}

fn empty_svg() -> String {
    "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"320\" height=\"40\" viewBox=\"0 0 320 40\">\
     <text x=\"10\" y=\"24\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"13\">\
     Nothing to draw: no PrivateLink service matches.</text></svg>\n"
        .to_string()
}

fn colour(hex: &str) -> Color {
    Color::fast(hex)
}

/// Text for an XML attribute or element.
fn attr(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' => {}
            c => out.push(c),
        }
    }
    out
}

/// Draws the laid-out graph as SVG. Each node or edge opens a group (its attributes and
/// tooltip come from `groups`, found by the token the layout passes back as the shape's
/// properties); the texts drawn after a node's box go into its group.
struct SvgWriter {
    /// The arrow marker's id prefix, and the clip paths'.
    marker: String,
    clip_prefix: String,
    groups: Vec<(String, String)>,
    body: String,
    open: bool,
    size: Point,
    clips: Vec<String>,
}

impl SvgWriter {
    fn new(groups: Vec<(String, String)>, marker: &str, clip_prefix: &str) -> SvgWriter {
        SvgWriter {
            marker: marker.to_string(),
            clip_prefix: clip_prefix.to_string(),
            groups,
            body: String::new(),
            open: false,
            size: Point::zero(),
            clips: Vec::new(),
        }
    }

    fn grow(&mut self, p: Point) {
        self.size.x = self.size.x.max(p.x + 10.);
        self.size.y = self.size.y.max(p.y + 10.);
    }

    fn open_group(&mut self, properties: &Option<String>) {
        let Some(token) = properties else { return };
        let Some(i) = token
            .strip_prefix("plaudit-g")
            .and_then(|n| n.parse::<usize>().ok())
        else {
            return;
        };
        let Some((attrs, title)) = self.groups.get(i) else {
            return;
        };
        let (attrs, title) = (attrs.clone(), attr(title));
        if self.open {
            self.body.push_str("</g>\n");
        }
        let _ = write!(self.body, "<g {attrs}><title>{title}</title>");
        self.open = true;
    }

    /// Closes the last group: the body is whole.
    fn close(&mut self) {
        if self.open {
            self.body.push_str("</g>\n");
            self.open = false;
        }
    }
}

impl RenderBackend for SvgWriter {
    fn draw_rect(
        &mut self,
        xy: Point,
        size: Point,
        look: &StyleAttr,
        properties: Option<String>,
        clip: Option<ClipHandle>,
    ) {
        self.open_group(&properties);
        self.grow(xy.add(size));
        let fill = look.fill_color.unwrap_or_else(Color::transparent);
        let clip = clip
            .map(|c| format!(" clip-path=\"url(#{}-clip{c})\"", self.clip_prefix))
            .unwrap_or_default();
        let _ = write!(
            self.body,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" rx=\"{}\" fill=\"{}\" stroke=\"{}\" stroke-width=\"{}\"{clip}/>",
            xy.x,
            xy.y,
            size.x,
            size.y,
            look.rounded,
            fill.to_web_color(),
            look.line_color.to_web_color(),
            look.line_width
        );
    }

    fn draw_line(
        &mut self,
        start: Point,
        stop: Point,
        look: &StyleAttr,
        properties: Option<String>,
    ) {
        self.open_group(&properties);
        self.grow(start);
        self.grow(stop);
        let _ = write!(
            self.body,
            "<line x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"{}\" stroke-width=\"{}\"/>",
            start.x,
            start.y,
            stop.x,
            stop.y,
            look.line_color.to_web_color(),
            look.line_width
        );
    }

    fn draw_circle(
        &mut self,
        xy: Point,
        size: Point,
        look: &StyleAttr,
        properties: Option<String>,
    ) {
        self.open_group(&properties);
        self.grow(xy.add(size));
        let fill = look.fill_color.unwrap_or_else(Color::transparent);
        let _ = write!(
            self.body,
            "<ellipse cx=\"{:.1}\" cy=\"{:.1}\" rx=\"{:.1}\" ry=\"{:.1}\" fill=\"{}\" stroke=\"{}\" stroke-width=\"{}\"/>",
            xy.x,
            xy.y,
            size.x / 2.,
            size.y / 2.,
            fill.to_web_color(),
            look.line_color.to_web_color(),
            look.line_width
        );
    }

    fn draw_text(&mut self, xy: Point, text: &str, look: &StyleAttr) {
        let lines: Vec<&str> = text.lines().collect();
        let height = lines.len() as f64 * look.font_size as f64 * 1.2;
        let _ = write!(
            self.body,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"{}\">",
            xy.x,
            xy.y - height / 2.,
            look.font_size
        );
        for line in lines {
            let _ = write!(
                self.body,
                "<tspan x=\"{:.1}\" dy=\"1.2em\">{}</tspan>",
                xy.x,
                attr(line)
            );
        }
        self.body.push_str("</text>");
    }

    fn draw_arrow(
        &mut self,
        path: &[(Point, Point)],
        dashed: bool,
        head: (bool, bool),
        look: &StyleAttr,
        properties: Option<String>,
        text: &str,
    ) {
        self.open_group(&properties);
        if path.len() < 2 {
            return;
        }
        for p in path {
            self.grow(p.0);
            self.grow(p.1);
        }
        // The layout's control points: [(M, C) S S …].
        let mut d = format!(
            "M {:.1} {:.1} C {:.1} {:.1}, {:.1} {:.1}, {:.1} {:.1}",
            path[0].0.x,
            path[0].0.y,
            path[0].1.x,
            path[0].1.y,
            path[1].0.x,
            path[1].0.y,
            path[1].1.x,
            path[1].1.y
        );
        for p in &path[2..] {
            let _ = write!(d, " S {:.1} {:.1}, {:.1} {:.1}", p.0.x, p.0.y, p.1.x, p.1.y);
        }
        let _ = write!(
            self.body,
            "<path d=\"{d}\" fill=\"none\" stroke=\"{}\" stroke-width=\"{}\"{}{}{}/>",
            look.line_color.to_web_color(),
            look.line_width,
            if dashed {
                " stroke-dasharray=\"5,4\""
            } else {
                ""
            },
            if head.0 {
                format!(" marker-start=\"url(#{}-arrow)\"", self.marker)
            } else {
                String::new()
            },
            if head.1 {
                format!(" marker-end=\"url(#{}-arrow)\"", self.marker)
            } else {
                String::new()
            }
        );
        if !text.is_empty() {
            let mid = path[path.len() / 2].1;
            let _ = write!(
                self.body,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"{}\">{}</text>",
                mid.x,
                mid.y - 4.,
                look.font_size,
                attr(text)
            );
        }
    }

    fn create_clip(&mut self, xy: Point, size: Point, rounded_px: usize) -> ClipHandle {
        let handle = self.clips.len();
        self.clips.push(format!(
            "<clipPath id=\"{}-clip{handle}\"><rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" rx=\"{rounded_px}\"/></clipPath>",
            self.clip_prefix, xy.x, xy.y, size.x, size.y
        ));
        handle
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::{AccountBox, Node};

    fn tiny() -> Graph {
        let node = |key: &str, kind, health, rules: &[&str]| Node {
            key: key.into(),
            kind,
            account: "111111111111".into(),
            region: "eu-west-1".into(),
            name: key.into(),
            detail: String::new(),
            az_ids: vec!["euw1-az1".into()],
            health,
            rules: rules.iter().map(|r| r.to_string()).collect(),
            aliases: Vec::new(),
        };
        let mut g = Graph::default();
        g.accounts.insert(
            "111111111111".into(),
            AccountBox {
                name: "a \"quoted\" <name>".into(),
                ou_path: "/Prod".into(),
                outside: false,
            },
        );
        g.nodes
            .push(node("vpce-1", Kind::Endpoint, Health::Pass, &[]));
        g.nodes.push(node(
            "vpce-svc-1",
            Kind::Service,
            Health::Fail(Severity::High),
            &["private-dns-unverified"],
        ));
        g.edges.push(Edge {
            from: 0,
            to: 1,
            label: "available".into(),
            health: Health::Fail(Severity::Medium),
            rules: vec!["orphaned-connection".into()],
        });
        g
    }

    #[test]
    fn dot_clusters_accounts_and_escapes_names() {
        let d = dot(&tiny());
        assert!(d.contains("subgraph cluster_0"));
        assert!(
            d.contains(r#"label="a \"quoted\" <name> (111111111111)\n/Prod""#),
            "{d}"
        );
        assert!(
            d.contains("n0 -> n1 [label=\"available ✗ orphaned-connection\""),
            "{d}"
        );
        assert!(d.contains("✗ private-dns-unverified"));
    }

    #[test]
    fn mermaid_uses_its_own_escapes_and_styles_failing_links() {
        let m = mermaid(&tiny());
        assert!(m.starts_with("flowchart LR\n"));
        assert!(m.contains("#quot;quoted#quot; #lt;name#gt;"), "{m}");
        assert!(m.contains("linkStyle 0 stroke:#e65100"), "{m}");
        assert!(m.contains("class n1 failHigh"), "{m}");
    }

    #[test]
    fn svg_marks_nodes_and_edges_for_readers_and_tools() {
        let s = svg(&tiny()).unwrap();
        assert!(s.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(
            s.contains("class=\"node fail\" data-key=\"vpce-svc-1\""),
            "{s}"
        );
        assert!(s.contains("data-from=\"vpce-1\" data-to=\"vpce-svc-1\" data-health=\"fail\""));
        assert!(s.contains("<title>endpoint service vpce-svc-1"), "{s}");
        assert!(s.contains("a &quot;quoted&quot; &lt;name&gt;"), "{s}");
        assert!(!s.contains("<name>"));
        assert_eq!(s.matches("<g ").count(), s.matches("</g>").count());
    }

    #[test]
    fn an_empty_graph_says_so_and_a_huge_one_asks_for_a_filter() {
        assert!(svg(&Graph::default()).unwrap().contains("Nothing to draw"));
        let mut g = tiny();
        let n = g.nodes[0].clone();
        g.nodes = vec![n; SVG_MAX_NODES + 1];
        g.edges.clear();
        let e = svg(&g).unwrap_err().to_string();
        assert!(e.contains("--service") && e.contains("--format dot"), "{e}");
        // One piece too big: a star of endpoints around one service.
        let mut star = tiny();
        let endpoint = star.nodes[0].clone();
        for i in 0..SVG_MAX_PIECE_NODES {
            star.nodes.push(Node {
                key: format!("vpce-x{i}"),
                ..endpoint.clone()
            });
            star.edges.push(Edge {
                from: star.nodes.len() - 1,
                to: 1,
                label: String::new(),
                health: Health::None,
                rules: Vec::new(),
            });
        }
        let e = svg(&star).unwrap_err().to_string();
        assert!(e.contains("--around vpce-svc-1"), "{e}");
    }
}
