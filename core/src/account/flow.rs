//! Flow documents (reference §6.1): a node graph the `/flow` interpreter
//! walks. Here only the graph is checked (ids, edges, start, node kinds and
//! the table references a node names); each kind's `data` stays an open
//! JSON object, typed by the flow interpreter.

use super::check::{self, fail, Checked, NAME_MAX};
use super::refs::{resolve, Refs};
use super::DocError;
use crate::flow::spec::{self, NodeSpec};
use crate::limits::{EDGES_PER_FLOW_MAX, NODES_PER_FLOW_MAX};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// The node kinds `/flow` knows (API.md "POST /flow").
pub const NODE_KINDS: [&str; 18] = [
    "entry",
    "play",
    "say",
    "menu",
    "collect",
    "timeCondition",
    "setVariable",
    "condition",
    "dial",
    "enqueue",
    "voicemail",
    "record",
    "conference",
    "ringGroup",
    "goto",
    "setLanguage",
    "webhook",
    "hangup",
];

/// Picks one table's ids out of [`Refs`].
type Table = fn(&Refs) -> &BTreeSet<String>;

/// `data` keys that name a row of the document, checked when present as
/// strings: (key, table, table name for the message).
const NODE_REFERENCES: [(&str, Table, &str); 3] = [
    ("queueId", |r| &r.queues, "queue"),
    ("mailboxId", |r| &r.voicemail_boxes, "voicemail box"),
    ("scheduleId", |r| &r.schedules, "schedule"),
];

/// Longest node `type` (an editor hint).
const NODE_TYPE_MAX: usize = 64;
/// Longest edge `sourceHandle` (an outcome name such as `digit:1`).
const HANDLE_MAX: usize = 64;

/// A versioned call flow.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Flow {
    /// Unique id within its list (1..64 chars of `[A-Za-z0-9_.:-]`).
    pub id: String,
    /// Accepted on input (must equal the account id), never written.
    #[serde(default, skip_serializing)]
    pub account_id: Option<String>,
    /// Display name (default "").
    #[serde(default)]
    pub name: String,
    /// Editor version counter (default 1).
    #[serde(default = "one")]
    pub version: u32,
    /// Id of the node the flow starts at.
    pub start: String,
    /// The flow's nodes.
    pub nodes: Vec<FlowNode>,
    /// The flow's transitions.
    #[serde(default)]
    pub edges: Vec<FlowEdge>,
}

fn one() -> u32 {
    1
}

/// One node. `data.kind` says what it does; `type` and `position` are the
/// visual editor's and are kept as given.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowNode {
    /// Unique id within its list (1..64 chars of `[A-Za-z0-9_.:-]`).
    pub id: String,
    /// The editor's node type (any string; usually equals `data.kind`).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub node_type: Option<String>,
    /// Editor-only position (any JSON, kept as given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<Value>,
    /// Kind-specific settings; `kind` is one of [`NODE_KINDS`].
    pub data: Map<String, Value>,
}

impl FlowNode {
    /// `data.kind` (validated to be one of [`NODE_KINDS`]).
    pub fn kind(&self) -> &str {
        self.data.get("kind").and_then(Value::as_str).unwrap_or("")
    }
}

/// A transition: taken from `source` when the outcome equals
/// `sourceHandle` (none = `default`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowEdge {
    /// Unique id within its list (1..64 chars of `[A-Za-z0-9_.:-]`).
    pub id: String,
    /// Node the edge leaves.
    pub source: String,
    /// Node the edge enters.
    pub target: String,
    /// The outcome name (`digit:1`, `timeout`, …); none = `default`.
    #[serde(
        rename = "sourceHandle",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub source_handle: Option<String>,
}

impl FlowEdge {
    /// The outcome this edge is taken on (`default` when no handle).
    pub fn outcome(&self) -> &str {
        self.source_handle.as_deref().unwrap_or("default")
    }
}

/// Checks every flow.
pub fn check_flows(flows: &mut [Flow], refs: &Refs, account_id: &str) -> Checked {
    let mut ids = BTreeSet::new();
    for (i, flow) in flows.iter_mut().enumerate() {
        let base = format!("flows[{i}]");
        check::id(&format!("{base}.id"), &flow.id)?;
        check::unique(&mut ids, &flow.id, &format!("{base}.id"), "flow id")?;
        super::validate::owner(&base, &mut flow.account_id, account_id)?;
        check::text(&format!("{base}.name"), &flow.name, NAME_MAX)?;
        check_graph(&base, flow, refs)?;
    }
    Ok(())
}

/// Nodes unique and of known kinds, `start` a node, edges between nodes,
/// at most one edge per (source, outcome).
fn check_graph(base: &str, flow: &Flow, refs: &Refs) -> Checked {
    check::count(
        &format!("{base}.nodes"),
        flow.nodes.len(),
        NODES_PER_FLOW_MAX,
    )?;
    check::count(
        &format!("{base}.edges"),
        flow.edges.len(),
        EDGES_PER_FLOW_MAX,
    )?;
    let mut nodes = BTreeSet::new();
    let mut specs = BTreeMap::new();
    for (j, node) in flow.nodes.iter().enumerate() {
        let at = format!("{base}.nodes[{j}]");
        check::id(&format!("{at}.id"), &node.id)?;
        check::unique(&mut nodes, &node.id, &format!("{at}.id"), "node id")?;
        if let Some(node_type) = &node.node_type {
            check::text(&format!("{at}.type"), node_type, NODE_TYPE_MAX)?;
        }
        let spec = check_data(&format!("{at}.data"), &node.data, refs)?;
        specs.insert(node.id.as_str(), (at, spec));
    }
    for (at, spec) in specs.values() {
        if let NodeSpec::Goto(goto) = spec {
            if let Some(target) = &goto.target {
                if !nodes.contains(target) {
                    return fail(
                        format!("{at}.data.target"),
                        format!("no node with id {}", check::shorten(target)),
                    );
                }
            }
            if let Some(flow_id) = &goto.flow_id {
                resolve(&format!("{at}.data.flowId"), flow_id, &refs.flows, "flow")?;
            }
        }
    }
    if !nodes.contains(&flow.start) {
        return fail(
            format!("{base}.start"),
            format!("no node with id {}", check::shorten(&flow.start)),
        );
    }
    let mut edges = BTreeSet::new();
    let mut outcomes = BTreeSet::new();
    for (j, edge) in flow.edges.iter().enumerate() {
        let at = format!("{base}.edges[{j}]");
        check::id(&format!("{at}.id"), &edge.id)?;
        check::unique(&mut edges, &edge.id, &format!("{at}.id"), "edge id")?;
        for (field, end) in [("source", &edge.source), ("target", &edge.target)] {
            if !nodes.contains(end) {
                return fail(
                    format!("{at}.{field}"),
                    format!("no node with id {}", check::shorten(end)),
                );
            }
        }
        let handle_path = format!("{at}.sourceHandle");
        if let Some(handle) = &edge.source_handle {
            check::token(&handle_path, handle, HANDLE_MAX)?;
        }
        let (_, spec) = &specs[edge.source.as_str()];
        if !spec.has_outcome(edge.outcome()) {
            return fail(
                handle_path,
                format!(
                    "`{}` is not an outcome of node {}",
                    check::shorten(edge.outcome()),
                    check::shorten(&edge.source)
                ),
            );
        }
        let key = format!("{} {}", edge.source, edge.outcome());
        check::unique(
            &mut outcomes,
            &key,
            &handle_path,
            "edge for node and outcome",
        )?;
    }
    Ok(())
}

/// `data.kind` known, the data right for its kind ([`spec::parse`]);
/// references to queues, voicemail boxes and schedules resolved.
fn check_data(path: &str, data: &Map<String, Value>, refs: &Refs) -> Result<NodeSpec, DocError> {
    let kind_path = format!("{path}.kind");
    match data.get("kind") {
        Some(Value::String(kind)) if NODE_KINDS.contains(&kind.as_str()) => {}
        Some(Value::String(kind)) => {
            return fail(
                kind_path,
                format!(
                    "unknown node kind `{}`, expected one of {}",
                    check::shorten(kind),
                    NODE_KINDS.join(", ")
                ),
            )
        }
        Some(_) => return fail(kind_path, "must be a string"),
        None => return fail(kind_path, "required"),
    }
    for (key, table, name) in NODE_REFERENCES {
        match data.get(key) {
            None | Some(Value::Null) => {}
            Some(Value::String(id)) => resolve(&format!("{path}.{key}"), id, table(refs), name)?,
            Some(_) => return fail(format!("{path}.{key}"), "must be a string id"),
        }
    }
    spec::parse(data).map_err(|e| {
        let at = if e.field.is_empty() {
            path.to_string()
        } else {
            format!("{path}.{}", e.field)
        };
        DocError::new(at, e.message)
    })
}
