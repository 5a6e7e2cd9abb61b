//! The compiled graph: where a run goes after each node.
//!
//! Each node (and `START`) has exactly one outgoing edge: `to` one place, `routes`
//! (the first route whose condition holds, else the default), or a `loop`
//! (configurable-agents' meaning: the `from` node runs again until its
//! `condition_field` is true or it has run `max_iterations` times, then `exit_to`).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::expr::{EvalError, Expr};

/// The most times a loop may run its node.
pub const MAX_LOOP_ITERATIONS: u32 = 100;

/// Where a run goes next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    Node(String),
    End,
}

/// One route of a `routes` edge.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// The expression as written.
    pub logic: String,
    pub condition: Expr,
    pub to: Next,
}

/// The one edge leaving a node.
#[derive(Debug, Clone, PartialEq)]
pub enum Edge {
    To(Next),
    Routes {
        routes: Vec<Route>,
        default: Next,
    },
    Loop {
        condition_field: String,
        max_iterations: u32,
        exit_to: Next,
    },
}

impl Edge {
    /// Every place this edge can lead from `from`.
    fn targets<'a>(&'a self, from: &'a str) -> Vec<&'a str> {
        let name = |n: &'a Next| match n {
            Next::Node(id) => id.as_str(),
            Next::End => "END",
        };
        match self {
            Edge::To(n) => vec![name(n)],
            Edge::Routes { routes, default } => routes
                .iter()
                .map(|r| name(&r.to))
                .chain([name(default)])
                .collect(),
            Edge::Loop { exit_to, .. } => vec![from, name(exit_to)],
        }
    }
}

/// The whole graph: the edge from `START` and the edge from each node.
#[derive(Debug, Clone, PartialEq)]
pub struct Graph {
    pub start: Edge,
    pub edges: BTreeMap<String, Edge>,
}

impl Graph {
    /// The first node of a run.
    pub fn first(&self, state: &Value) -> Result<Next, EvalError> {
        step(&self.start, "START", state, 1)
    }

    /// Where to go after `node` finished its `iteration`-th run (1 for the first) with
    /// the run now in `state`.
    pub fn next(&self, node: &str, state: &Value, iteration: u32) -> Result<Next, EvalError> {
        let edge = self
            .edges
            .get(node)
            .ok_or_else(|| EvalError(format!("no edge leaves node {node:?}")))?;
        step(edge, node, state, iteration)
    }

    /// Nodes not reachable from `START`, and nodes with no path to `END`.
    pub(crate) fn dead_ends<'a>(&'a self, nodes: &[&'a str]) -> (Vec<&'a str>, Vec<&'a str>) {
        let mut fwd: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        fwd.insert("START", self.start.targets("START"));
        for (from, e) in &self.edges {
            fwd.insert(from.as_str(), e.targets(from));
        }
        let mut back: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (from, tos) in &fwd {
            for to in tos {
                back.entry(to).or_default().push(from);
            }
        }
        let reach = |g: &BTreeMap<&'a str, Vec<&'a str>>, from: &'a str| {
            let mut seen = BTreeSet::from([from]);
            let mut todo = vec![from];
            while let Some(n) = todo.pop() {
                for m in g.get(n).into_iter().flatten() {
                    if seen.insert(m) {
                        todo.push(m);
                    }
                }
            }
            seen
        };
        let from_start = reach(&fwd, "START");
        let to_end = reach(&back, "END");
        (
            nodes
                .iter()
                .copied()
                .filter(|n| !from_start.contains(n))
                .collect(),
            nodes
                .iter()
                .copied()
                .filter(|n| !to_end.contains(n))
                .collect(),
        )
    }
}

fn step(edge: &Edge, from: &str, state: &Value, iteration: u32) -> Result<Next, EvalError> {
    match edge {
        Edge::To(n) => Ok(n.clone()),
        Edge::Routes { routes, default } => {
            for r in routes {
                let holds = r
                    .condition
                    .test(state)
                    .map_err(|e| EvalError(format!("route condition {:?}: {e}", r.logic)))?;
                if holds {
                    return Ok(r.to.clone());
                }
            }
            Ok(default.clone())
        }
        Edge::Loop {
            condition_field,
            max_iterations,
            exit_to,
        } => {
            let done = match state.get(condition_field) {
                Some(Value::Bool(b)) => *b,
                None | Some(Value::Null) => false,
                Some(other) => {
                    return Err(EvalError(format!(
                        "loop condition_field {condition_field:?} is {}, not a bool",
                        super::types::describe(other)
                    )))
                }
            };
            if done || iteration >= *max_iterations {
                Ok(exit_to.clone())
            } else {
                Ok(Next::Node(from.to_owned()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(id: &str) -> Next {
        Next::Node(id.into())
    }

    fn graph() -> Graph {
        let route = |logic: &str, to: &str| Route {
            logic: logic.into(),
            condition: Expr::parse(logic).unwrap(),
            to: node(to),
        };
        Graph {
            start: Edge::To(node("a")),
            edges: [
                (
                    "a".to_owned(),
                    Edge::Routes {
                        routes: vec![route("x > 1", "b"), route("x > 0", "c")],
                        default: Next::End,
                    },
                ),
                (
                    "b".to_owned(),
                    Edge::Loop {
                        condition_field: "done".into(),
                        max_iterations: 3,
                        exit_to: node("c"),
                    },
                ),
                ("c".to_owned(), Edge::To(Next::End)),
            ]
            .into(),
        }
    }

    #[test]
    fn first_true_route_else_default() {
        let g = graph();
        assert_eq!(g.first(&json!({})), Ok(node("a")));
        assert_eq!(g.next("a", &json!({"x": 5}), 1), Ok(node("b")));
        assert_eq!(g.next("a", &json!({"x": 1}), 1), Ok(node("c")));
        assert_eq!(g.next("a", &json!({"x": 0}), 1), Ok(Next::End));
        assert!(g.next("a", &json!({"x": "5"}), 1).is_err());
        assert!(g.next("zz", &json!({}), 1).is_err());
    }

    #[test]
    fn loop_reruns_until_true_or_max() {
        let g = graph();
        assert_eq!(g.next("b", &json!({"done": false}), 1), Ok(node("b")));
        assert_eq!(g.next("b", &json!({"done": null}), 2), Ok(node("b")));
        assert_eq!(g.next("b", &json!({"done": false}), 3), Ok(node("c")));
        assert_eq!(g.next("b", &json!({"done": true}), 1), Ok(node("c")));
        assert!(g.next("b", &json!({"done": "yes"}), 1).is_err());
    }

    #[test]
    fn dead_ends_found() {
        let mut g = graph();
        g.edges.insert("d".into(), Edge::To(node("d")));
        let (unreachable, stuck) = g.dead_ends(&["a", "b", "c", "d"]);
        assert_eq!(unreachable, ["d"]);
        assert_eq!(stuck, ["d"]);
    }
}
