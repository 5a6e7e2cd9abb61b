//! Conditions: when a matching trigger's command actually runs.
//!
//! A command's `conditions` is a JSON object whose entries must all hold. Seed 002's
//! shorthand (`labels`, `label`, `body_contains`, `channel`) reads the fields each
//! provider puts those things in; the general filter language is a leaf
//! (`path` + `op` + `value`) and the combinators `all`, `any` and `not`, whose
//! members are conditions objects again. docs/routing.md is the user's reference.
//!
//! Everything that can be wrong with a condition (unknown keys, bad operators, bad
//! regular expressions, wrong value types) is found when the config is compiled, so
//! evaluating one against a payload cannot fail: a path that is missing simply makes
//! the leaf false (or, for `ne` and `exists: false`, true).

use std::cmp::Ordering;

use regex::Regex;
use serde_json::Value;

use super::config::{at, FieldError};

/// How deeply conditions may nest. Evaluation recurses, so an unbounded config
/// could exhaust the stack; real rules are a handful of levels deep.
const MAX_DEPTH: usize = 32;

/// The largest compiled regular expression a condition may hold, in bytes. Rust's
/// regex engine never backtracks, so only the size needs a bound.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

const KEYS: &str = "labels, label, body_contains, channel, path, op, value, all, any, not";
const OPS: &str = "eq, ne, in, contains, regex, exists, gt, lt, gte, lte";

/// A compiled conditions object. Cheap to evaluate: regexes are compiled and label
/// names lower-cased once.
#[derive(Debug, Clone)]
pub struct Conditions {
    root: Cond,
}

#[derive(Debug, Clone)]
enum Cond {
    All(Vec<Cond>),
    Any(Vec<Cond>),
    Not(Box<Cond>),
    /// Lower-cased label names; any of them on the item.
    Labels(Vec<String>),
    /// Lower-cased name of the label just added.
    Label(String),
    /// Lower-cased substring of the body.
    BodyContains(String),
    /// Channel id or name, lower-cased, without a leading `#`.
    Channel(String),
    Leaf(Path, Op),
}

#[derive(Debug, Clone)]
enum Op {
    Eq(Value),
    Ne(Value),
    In(Vec<Value>),
    Contains(Value),
    Regex(Regex),
    Exists(bool),
    Cmp(Cmp, Value),
}

#[derive(Debug, Clone, Copy)]
enum Cmp {
    Gt,
    Lt,
    Gte,
    Lte,
}

impl Conditions {
    /// Conditions that always hold (a command without `conditions`).
    pub fn always() -> Self {
        Self {
            root: Cond::All(Vec::new()),
        }
    }

    /// Compiles a conditions object; error paths are relative to it (`labels`,
    /// `all[0].op`). `null` means no conditions.
    pub fn compile(v: &Value) -> Result<Self, Vec<FieldError>> {
        Self::compile_at(v, "")
    }

    /// Compiles a conditions object found at `prefix` in a config, so error paths
    /// read `commands[1].conditions.labels`.
    pub fn compile_at(v: &Value, prefix: &str) -> Result<Self, Vec<FieldError>> {
        if v.is_null() {
            return Ok(Self::always());
        }
        let mut errors = Vec::new();
        let root = parse_object(v, prefix, 0, &mut errors);
        if errors.is_empty() {
            Ok(Self { root })
        } else {
            Err(errors)
        }
    }

    /// Whether the conditions hold for this payload.
    pub fn matches(&self, payload: &Value) -> bool {
        self.root.holds(payload)
    }
}

fn parse_object(v: &Value, path: &str, depth: usize, errors: &mut Vec<FieldError>) -> Cond {
    let Some(map) = v.as_object() else {
        errors.push(FieldError::new(path, "must be an object"));
        return Cond::All(Vec::new());
    };
    if depth > MAX_DEPTH {
        errors.push(FieldError::new(
            path,
            format!("conditions nest too deeply (at most {MAX_DEPTH} levels)"),
        ));
        return Cond::All(Vec::new());
    }
    let mut parts = Vec::new();
    if ["path", "op", "value"].iter().any(|k| map.contains_key(*k)) {
        if let Some(leaf) = parse_leaf(map, path, errors) {
            parts.push(leaf);
        }
    }
    for (key, val) in map {
        let here = at(path, key);
        let part = match key.as_str() {
            "path" | "op" | "value" => continue,
            "labels" => match val {
                Value::String(s) => Some(Cond::Labels(vec![s.to_lowercase()])),
                Value::Array(items) if items.is_empty() => {
                    errors.push(FieldError::new(here, "must list at least one label"));
                    None
                }
                Value::Array(items) => {
                    let mut names = Vec::new();
                    for (j, item) in items.iter().enumerate() {
                        match item.as_str() {
                            Some(s) => names.push(s.to_lowercase()),
                            None => errors
                                .push(FieldError::new(format!("{here}[{j}]"), "must be a string")),
                        }
                    }
                    Some(Cond::Labels(names))
                }
                _ => {
                    errors.push(FieldError::new(
                        here,
                        "must be a label name or an array of label names",
                    ));
                    None
                }
            },
            "label" => string_at(val, &here, errors).map(|s| Cond::Label(s.to_lowercase())),
            "body_contains" => {
                string_at(val, &here, errors).map(|s| Cond::BodyContains(s.to_lowercase()))
            }
            "channel" => match string_at(val, &here, errors) {
                Some(s) if s.trim_start_matches('#').is_empty() => {
                    errors.push(FieldError::new(here, "must name a channel"));
                    None
                }
                Some(s) => Some(Cond::Channel(channel_key(s))),
                None => None,
            },
            "all" | "any" => match val.as_array() {
                Some(items) => {
                    let members = items
                        .iter()
                        .enumerate()
                        .map(|(j, item)| {
                            parse_object(item, &format!("{here}[{j}]"), depth + 1, errors)
                        })
                        .collect();
                    Some(if key == "all" {
                        Cond::All(members)
                    } else {
                        Cond::Any(members)
                    })
                }
                None => {
                    errors.push(FieldError::new(
                        here,
                        "must be an array of conditions objects",
                    ));
                    None
                }
            },
            "not" => Some(Cond::Not(Box::new(parse_object(
                val,
                &here,
                depth + 1,
                errors,
            )))),
            _ => {
                errors.push(FieldError::new(
                    here,
                    format!("unknown condition; expected one of {KEYS}"),
                ));
                None
            }
        };
        parts.extend(part);
    }
    if parts.len() == 1 {
        parts.pop().unwrap_or(Cond::All(Vec::new()))
    } else {
        Cond::All(parts)
    }
}

fn string_at<'v>(v: &'v Value, path: &str, errors: &mut Vec<FieldError>) -> Option<&'v str> {
    let s = v.as_str();
    if s.is_none() {
        errors.push(FieldError::new(path, "must be a string"));
    }
    s
}

/// Parses the leaf written directly in a conditions object: `path`, `op`, `value`.
fn parse_leaf(
    map: &serde_json::Map<String, Value>,
    base: &str,
    errors: &mut Vec<FieldError>,
) -> Option<Cond> {
    let path = match map.get("path") {
        None => {
            errors.push(FieldError::new(
                at(base, "path"),
                "is required with op and value",
            ));
            None
        }
        Some(Value::String(s)) => match Path::parse(s) {
            Ok(p) => Some(p),
            Err(e) => {
                errors.push(FieldError::new(at(base, "path"), e));
                None
            }
        },
        Some(_) => {
            errors.push(FieldError::new(at(base, "path"), "must be a string"));
            None
        }
    };
    let op_name = match map.get("op") {
        None => {
            errors.push(FieldError::new(
                at(base, "op"),
                format!("is required with path; one of {OPS}"),
            ));
            None
        }
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => {
            errors.push(FieldError::new(at(base, "op"), "must be a string"));
            None
        }
    };
    let value = map.get("value");
    let bad_value = |message: &str| Err(FieldError::new(at(base, "value"), message));
    let op = op_name.map(|name| match (name, value) {
        ("eq" | "ne" | "contains", None) => bad_value("is required for this op"),
        ("eq", Some(v)) => Ok(Op::Eq(v.clone())),
        ("ne", Some(v)) => Ok(Op::Ne(v.clone())),
        ("contains", Some(v)) => Ok(Op::Contains(v.clone())),
        ("in", Some(Value::Array(vs))) => Ok(Op::In(vs.clone())),
        ("in", _) => bad_value("must be an array for op in"),
        ("regex", Some(Value::String(s))) => regex::RegexBuilder::new(s)
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map(Op::Regex)
            .or_else(|e| bad_value(&format!("invalid regular expression: {e}"))),
        ("regex", _) => bad_value("must be a regular expression string for op regex"),
        ("exists", None) => Ok(Op::Exists(true)),
        ("exists", Some(Value::Bool(b))) => Ok(Op::Exists(*b)),
        ("exists", Some(_)) => bad_value("must be true or false for op exists"),
        ("gt" | "lt" | "gte" | "lte", Some(v @ (Value::Number(_) | Value::String(_)))) => {
            let cmp = match name {
                "gt" => Cmp::Gt,
                "lt" => Cmp::Lt,
                "gte" => Cmp::Gte,
                _ => Cmp::Lte,
            };
            Ok(Op::Cmp(cmp, v.clone()))
        }
        ("gt" | "lt" | "gte" | "lte", _) => {
            bad_value("must be a number or a string for a comparison")
        }
        (other, _) => Err(FieldError::new(
            at(base, "op"),
            format!("unknown op {other:?}; expected one of {OPS}"),
        )),
    });
    let op = match op {
        Some(Ok(op)) => Some(op),
        Some(Err(e)) => {
            errors.push(e);
            None
        }
        None => None,
    };
    Some(Cond::Leaf(path?, op?))
}

impl Cond {
    fn holds(&self, p: &Value) -> bool {
        match self {
            Cond::All(cs) => cs.iter().all(|c| c.holds(p)),
            Cond::Any(cs) => cs.iter().any(|c| c.holds(p)),
            Cond::Not(c) => !c.holds(p),
            Cond::Labels(want) => label_names(p).any(|l| want.contains(&l.to_lowercase())),
            Cond::Label(want) => added_labels(p).any(|l| l.to_lowercase() == *want),
            Cond::BodyContains(needle) => {
                body(p).is_some_and(|b| b.to_lowercase().contains(needle.as_str()))
            }
            Cond::Channel(want) => channels(p).any(|c| channel_key(c) == *want),
            Cond::Leaf(path, op) => op.holds(path, p),
        }
    }
}

impl Op {
    fn holds(&self, path: &Path, p: &Value) -> bool {
        match self {
            Op::Eq(v) => path.any(p, &mut |x| json_eq(x, v)),
            Op::Ne(v) => !path.any(p, &mut |x| json_eq(x, v)),
            Op::In(vs) => path.any(p, &mut |x| vs.iter().any(|v| json_eq(x, v))),
            Op::Contains(v) => path.any(p, &mut |x| match x {
                Value::String(s) => v.as_str().is_some_and(|n| s.contains(n)),
                Value::Array(items) => items.iter().any(|e| json_eq(e, v)),
                Value::Object(m) => v.as_str().is_some_and(|k| m.contains_key(k)),
                _ => false,
            }),
            Op::Regex(re) => path.any(p, &mut |x| x.as_str().is_some_and(|s| re.is_match(s))),
            Op::Exists(want) => path.any(p, &mut |x| !x.is_null()) == *want,
            Op::Cmp(cmp, v) => path.any(p, &mut |x| {
                compare(x, v).is_some_and(|o| match cmp {
                    Cmp::Gt => o == Ordering::Greater,
                    Cmp::Lt => o == Ordering::Less,
                    Cmp::Gte => o != Ordering::Less,
                    Cmp::Lte => o != Ordering::Greater,
                })
            }),
        }
    }
}

/// Numbers compare by value (`1` equals `1.0`); containers element by element;
/// everything else as JSON.
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => num_cmp(x, y) == Some(Ordering::Equal),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, a)| y.get(k).is_some_and(|b| json_eq(a, b)))
        }
        _ => a == b,
    }
}

/// Numbers by value, strings by their UTF-8 bytes (so RFC 3339 times in one zone
/// order correctly); anything else does not compare.
fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => num_cmp(x, y),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

fn num_cmp(a: &serde_json::Number, b: &serde_json::Number) -> Option<Ordering> {
    // Integers compare exactly (large ids lose precision as f64); floats as f64.
    let int = |n: &serde_json::Number| {
        n.as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
    };
    match (int(a), int(b)) {
        (Some(x), Some(y)) => Some(x.cmp(&y)),
        _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

/// Where each provider lists an item's labels, and the field holding each name
/// (`None`: the list holds the names themselves).
const LABEL_LISTS: &[(&str, Option<&str>)] = &[
    ("/issue/labels", Some("name")),              // GitHub issues
    ("/pull_request/labels", Some("name")),       // GitHub pull requests
    ("/labels", Some("title")),                   // GitLab issues and merge requests
    ("/object_attributes/labels", Some("title")), // GitLab, inside the object
    ("/issue/fields/labels", None),               // Jira
    ("/data/labels", Some("name")),               // Linear
];

fn label_names(p: &Value) -> impl Iterator<Item = &str> {
    LABEL_LISTS.iter().flat_map(move |(pointer, field)| {
        p.pointer(pointer)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(move |item| match field {
                Some(f) => item.get(*f).and_then(Value::as_str),
                None => item.as_str(),
            })
    })
}

/// The label the event is about being added: GitHub's `label.name` (`labeled`
/// actions), or a GitLab label present in `changes.labels.current` but not in
/// `changes.labels.previous`.
fn added_labels(p: &Value) -> impl Iterator<Item = &str> {
    let titles = |pointer: &str| -> Vec<&str> {
        p.pointer(pointer)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|l| l.get("title").and_then(Value::as_str))
            .collect()
    };
    let previous = titles("/changes/labels/previous");
    let gitlab: Vec<&str> = titles("/changes/labels/current")
        .into_iter()
        .filter(|t| !previous.contains(t))
        .collect();
    p.pointer("/label/name")
        .and_then(Value::as_str)
        .into_iter()
        .chain(gitlab)
}

/// Where the text `body_contains` searches lives, most specific first: the first of
/// these that is a string is the body (so a comment's condition is about the
/// comment, not the issue it was left on).
const BODIES: &[&str] = &[
    "/comment/body",                  // GitHub and Jira comments
    "/review/body",                   // GitHub pull request reviews
    "/issue/body",                    // GitHub issues
    "/pull_request/body",             // GitHub pull requests
    "/object_attributes/note",        // GitLab comments
    "/object_attributes/description", // GitLab issues and merge requests
    "/issue/fields/description",      // Jira issues
    "/event/text",                    // Slack Events API
    "/text",                          // Slack slash commands
];

fn body(p: &Value) -> Option<&str> {
    BODIES
        .iter()
        .find_map(|pointer| p.pointer(pointer).and_then(Value::as_str))
}

/// Where Slack puts the channel: Events API messages carry only its id, slash
/// commands both id and name, interactivity payloads a `channel` object.
const CHANNELS: &[&str] = &[
    "/event/channel",
    "/event/channel/id",
    "/event/channel/name",
    "/channel_id",
    "/channel_name",
    "/channel/id",
    "/channel/name",
];

fn channels(p: &Value) -> impl Iterator<Item = &str> {
    CHANNELS
        .iter()
        .filter_map(|pointer| p.pointer(pointer).and_then(Value::as_str))
}

/// `#Engineering`, `engineering` and `ENGINEERING` are one channel.
fn channel_key(s: &str) -> String {
    s.strip_prefix('#').unwrap_or(s).to_lowercase()
}

/// A dotted path into the payload: `issue.labels[*].name`, `items[0]`, `data.*.id`,
/// `["key.with.dots"]`.
#[derive(Debug, Clone, PartialEq)]
struct Path(Vec<Seg>);

#[derive(Debug, Clone, PartialEq)]
enum Seg {
    /// An object key; all digits also indexes an array (`labels.0`).
    Key(String),
    Index(usize),
    /// Every element of an array or value of an object.
    Wild,
}

impl Path {
    fn parse(s: &str) -> Result<Self, String> {
        if s.is_empty() {
            return Err("must not be empty".into());
        }
        let chars: Vec<char> = s.chars().collect();
        let n = chars.len();
        let mut i = 0;
        let mut segs = Vec::new();
        loop {
            let start = i;
            while i < n && !matches!(chars[i], '.' | '[' | ']') {
                i += 1;
            }
            let key: String = chars[start..i].iter().collect();
            if key.is_empty() {
                // Only a path that starts with a bracket (`[0].id`) has no key first.
                if !(start == 0 && chars.get(i) == Some(&'[')) {
                    return Err(format!("empty segment at character {}", i + 1));
                }
            } else if key == "*" {
                segs.push(Seg::Wild);
            } else {
                segs.push(Seg::Key(key));
            }
            while chars.get(i) == Some(&'[') {
                i += 1;
                let seg = match chars.get(i) {
                    Some('*') => {
                        i += 1;
                        Seg::Wild
                    }
                    Some(&q @ ('"' | '\'')) => {
                        i += 1;
                        let from = i;
                        while i < n && chars[i] != q {
                            i += 1;
                        }
                        if i >= n {
                            return Err("unclosed quote".into());
                        }
                        let key: String = chars[from..i].iter().collect();
                        i += 1;
                        Seg::Key(key)
                    }
                    Some(c) if c.is_ascii_digit() => {
                        let from = i;
                        while i < n && chars[i].is_ascii_digit() {
                            i += 1;
                        }
                        let digits: String = chars[from..i].iter().collect();
                        Seg::Index(
                            digits
                                .parse()
                                .map_err(|_| format!("index {digits} is too large"))?,
                        )
                    }
                    _ => {
                        return Err(format!(
                            "expected a number, * or a quoted key after '[' at character {}",
                            i
                        ))
                    }
                };
                if chars.get(i) != Some(&']') {
                    return Err(format!("expected ']' at character {}", i + 1));
                }
                i += 1;
                segs.push(seg);
            }
            match chars.get(i) {
                None => break,
                Some('.') if i + 1 < n => i += 1,
                Some('.') => return Err("must not end with '.'".into()),
                Some(c) => return Err(format!("unexpected {c:?} at character {}", i + 1)),
            }
        }
        Ok(Path(segs))
    }

    /// Whether `f` holds for any value the path reaches; stops at the first.
    fn any<'a>(&self, root: &'a Value, f: &mut dyn FnMut(&'a Value) -> bool) -> bool {
        reach(root, &self.0, f)
    }
}

fn reach<'a>(v: &'a Value, segs: &[Seg], f: &mut dyn FnMut(&'a Value) -> bool) -> bool {
    let Some((first, rest)) = segs.split_first() else {
        return f(v);
    };
    match (first, v) {
        (Seg::Key(k), Value::Object(m)) => m.get(k).is_some_and(|x| reach(x, rest, f)),
        (Seg::Key(k), Value::Array(items)) if k.bytes().all(|b| b.is_ascii_digit()) => k
            .parse::<usize>()
            .ok()
            .and_then(|i| items.get(i))
            .is_some_and(|x| reach(x, rest, f)),
        (Seg::Index(i), Value::Array(items)) => items.get(*i).is_some_and(|x| reach(x, rest, f)),
        (Seg::Wild, Value::Array(items)) => items.iter().any(|x| reach(x, rest, f)),
        (Seg::Wild, Value::Object(m)) => m.values().any(|x| reach(x, rest, f)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn holds(cond: Value, payload: &Value) -> bool {
        Conditions::compile(&cond).unwrap().matches(payload)
    }

    fn error_paths(cond: Value) -> Vec<String> {
        Conditions::compile_at(&cond, "c")
            .unwrap_err()
            .into_iter()
            .map(|e| e.path)
            .collect()
    }

    #[test]
    fn paths_parse() {
        use Seg::*;
        let k = |s: &str| Key(s.into());
        assert_eq!(Path::parse("a.b").unwrap().0, [k("a"), k("b")]);
        assert_eq!(
            Path::parse("issue.labels[*].name").unwrap().0,
            [k("issue"), k("labels"), Wild, k("name")]
        );
        assert_eq!(
            Path::parse("a[0][1]").unwrap().0,
            [k("a"), Index(0), Index(1)]
        );
        assert_eq!(Path::parse("[2].x").unwrap().0, [Index(2), k("x")]);
        assert_eq!(
            Path::parse("data.*.id").unwrap().0,
            [k("data"), Wild, k("id")]
        );
        assert_eq!(
            Path::parse(r#"headers["x.y"].z"#).unwrap().0,
            [k("headers"), k("x.y"), k("z")]
        );
        assert_eq!(Path::parse("jira:x").unwrap().0, [k("jira:x")]);
        for bad in [
            "",
            "a.",
            ".a",
            "a..b",
            "a[",
            "a[x]",
            "a[1",
            "a]",
            "a.[0]",
            "a[\"b]",
            "a[99999999999999999999999]",
        ] {
            assert!(Path::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn operators() {
        let p = json!({
            "issue": {
                "number": 42, "title": "Login broken", "state": "open", "assignee": null,
                "labels": [{"name": "bug"}, {"name": "P1"}],
                "created_at": "2024-05-01T10:00:00Z"
            },
            "tags": ["a", "b"],
            "amount": 1999.5
        });
        let leaf =
            |path: &str, op: &str, value: Value| json!({"path": path, "op": op, "value": value});
        assert!(holds(leaf("issue.number", "eq", json!(42)), &p));
        assert!(holds(leaf("issue.number", "eq", json!(42.0)), &p));
        assert!(!holds(leaf("issue.number", "eq", json!("42")), &p));
        assert!(holds(leaf("issue.state", "ne", json!("closed")), &p));
        assert!(!holds(leaf("issue.state", "ne", json!("open")), &p));
        assert!(holds(leaf("issue.missing", "ne", json!("open")), &p));
        assert!(holds(
            leaf("issue.state", "in", json!(["open", "reopened"])),
            &p
        ));
        assert!(!holds(leaf("issue.state", "in", json!([])), &p));
        assert!(holds(leaf("issue.title", "contains", json!("broken")), &p));
        assert!(!holds(leaf("issue.title", "contains", json!("BROKEN")), &p));
        assert!(holds(leaf("tags", "contains", json!("b")), &p));
        assert!(holds(leaf("issue", "contains", json!("labels")), &p));
        assert!(holds(leaf("issue.labels[*].name", "eq", json!("P1")), &p));
        assert!(holds(leaf("issue.labels[1].name", "eq", json!("P1")), &p));
        assert!(holds(leaf("issue.labels.0.name", "eq", json!("bug")), &p));
        assert!(!holds(leaf("issue.labels[5].name", "eq", json!("bug")), &p));
        assert!(holds(
            leaf("issue.labels[*].name", "ne", json!("wontfix")),
            &p
        ));
        assert!(!holds(leaf("issue.labels[*].name", "ne", json!("bug")), &p));
        assert!(holds(leaf("issue.title", "regex", json!("^Login\\b")), &p));
        assert!(holds(leaf("issue.title", "regex", json!("(?i)^login")), &p));
        assert!(!holds(leaf("issue.number", "regex", json!("42")), &p));
        assert!(holds(json!({"path": "issue.title", "op": "exists"}), &p));
        assert!(!holds(
            json!({"path": "issue.assignee", "op": "exists"}),
            &p
        ));
        assert!(holds(leaf("issue.assignee", "exists", json!(false)), &p));
        assert!(holds(leaf("issue.nope.deeper", "exists", json!(false)), &p));
        assert!(holds(leaf("amount", "gt", json!(1000)), &p));
        assert!(holds(leaf("amount", "lte", json!(1999.5)), &p));
        assert!(!holds(leaf("amount", "lt", json!(1999.5)), &p));
        assert!(holds(leaf("issue.number", "gte", json!(42)), &p));
        assert!(!holds(leaf("issue.title", "gt", json!(1)), &p));
        assert!(holds(
            leaf("issue.created_at", "gt", json!("2024-01-01T00:00:00Z")),
            &p
        ));
        assert!(holds(
            leaf("issue.created_at", "lt", json!("2024-12-31")),
            &p
        ));
        assert!(holds(leaf("*.number", "eq", json!(42)), &p));
        // Missing paths are false, never errors.
        assert!(!holds(leaf("nothing.here", "eq", json!(null)), &p));
        assert!(!holds(leaf("amount.x", "gt", json!(1)), &p));
    }

    #[test]
    fn big_integers_compare_exactly() {
        let p = json!({"id": 9_007_199_254_740_993_u64});
        assert!(!holds(
            json!({"path": "id", "op": "eq", "value": 9_007_199_254_740_992_u64}),
            &p
        ));
        assert!(holds(json!({"path": "id", "op": "gt", "value": -1}), &p));
    }

    #[test]
    fn combinators() {
        let p = json!({"a": 1, "b": "x"});
        let a1 = json!({"path": "a", "op": "eq", "value": 1});
        let b2 = json!({"path": "b", "op": "eq", "value": "y"});
        assert!(!holds(json!({"all": [a1, b2]}), &p));
        assert!(holds(json!({"any": [a1, b2]}), &p));
        assert!(holds(json!({"not": b2}), &p));
        assert!(holds(json!({"all": []}), &p));
        assert!(!holds(json!({"any": []}), &p));
        assert!(holds(json!({}), &p));
        assert!(holds(Value::Null, &p));
        // A leaf and other keys side by side must all hold.
        assert!(!holds(
            json!({"path": "a", "op": "eq", "value": 1, "not": a1}),
            &p
        ));
        assert!(holds(
            json!({"any": [{"labels": "bug"}, {"not": {"path": "a", "op": "exists"}}, {"body_contains": "x"}]}),
            &json!({"text": "X"})
        ));
    }

    #[test]
    fn label_shorthands() {
        let gh = json!({"issue": {"labels": [{"name": "Bug"}, {"name": "docs"}]}});
        assert!(holds(json!({"labels": ["bug", "enhancement"]}), &gh));
        assert!(holds(json!({"labels": "docs"}), &gh));
        assert!(!holds(json!({"labels": ["enhancement"]}), &gh));
        let pr = json!({"pull_request": {"labels": [{"name": "enhancement"}]}});
        assert!(holds(json!({"labels": ["bug", "enhancement"]}), &pr));
        let gl = json!({"labels": [{"title": "bug"}]});
        assert!(holds(json!({"labels": ["bug"]}), &gl));
        let gl2 = json!({"object_attributes": {"labels": [{"title": "urgent"}]}});
        assert!(holds(json!({"labels": "urgent"}), &gl2));
        let jira = json!({"issue": {"fields": {"labels": ["backend", "bug"]}}});
        assert!(holds(json!({"labels": ["bug"]}), &jira));
        let linear = json!({"data": {"labels": [{"name": "Bug"}]}});
        assert!(holds(json!({"labels": ["bug"]}), &linear));
        assert!(!holds(json!({"labels": ["bug"]}), &json!({})));

        let labeled =
            json!({"action": "labeled", "label": {"name": "urgent"}, "issue": {"labels": []}});
        assert!(holds(json!({"label": "urgent"}), &labeled));
        assert!(holds(json!({"label": "URGENT"}), &labeled));
        assert!(!holds(json!({"label": "bug"}), &labeled));
        let gitlab = json!({"changes": {"labels": {
            "previous": [{"title": "bug"}],
            "current": [{"title": "bug"}, {"title": "urgent"}]
        }}});
        assert!(holds(json!({"label": "urgent"}), &gitlab));
        assert!(!holds(json!({"label": "bug"}), &gitlab));
    }

    #[test]
    fn body_shorthand() {
        let comment =
            json!({"comment": {"body": "Hey @Agent, why?"}, "issue": {"body": "nothing"}});
        assert!(holds(json!({"body_contains": "@agent"}), &comment));
        // The comment is the body of a comment event, not the issue it is on.
        let other = json!({"comment": {"body": "thanks"}, "issue": {"body": "@agent"}});
        assert!(!holds(json!({"body_contains": "@agent"}), &other));
        let issue = json!({"issue": {"body": null}, "pull_request": {"body": "@agent pls"}});
        assert!(holds(json!({"body_contains": "@agent"}), &issue));
        for p in [
            json!({"object_attributes": {"note": "@agent"}}),
            json!({"object_attributes": {"description": "@agent"}}),
            json!({"issue": {"fields": {"description": "@agent"}}}),
            json!({"event": {"text": "@agent"}}),
            json!({"text": "@agent"}),
            json!({"review": {"body": "@agent"}}),
        ] {
            assert!(holds(json!({"body_contains": "@agent"}), &p), "{p}");
        }
        assert!(!holds(json!({"body_contains": "@agent"}), &json!({})));
    }

    #[test]
    fn channel_shorthand() {
        let form = json!({"channel_id": "C0123", "channel_name": "engineering", "text": "hi"});
        assert!(holds(json!({"channel": "#engineering"}), &form));
        assert!(holds(json!({"channel": "engineering"}), &form));
        assert!(holds(json!({"channel": "C0123"}), &form));
        assert!(holds(json!({"channel": "#c0123"}), &form));
        assert!(!holds(json!({"channel": "#random"}), &form));
        let events =
            json!({"type": "event_callback", "event": {"type": "message", "channel": "C0123"}});
        assert!(holds(json!({"channel": "C0123"}), &events));
        assert!(!holds(json!({"channel": "#engineering"}), &events));
        let interactive = json!({"channel": {"id": "C9", "name": "ops"}});
        assert!(holds(json!({"channel": "#ops"}), &interactive));
        let created = json!({"event": {"channel": {"id": "C7", "name": "new"}}});
        assert!(holds(json!({"channel": "new"}), &created));
    }

    #[test]
    fn errors_have_paths() {
        assert_eq!(error_paths(json!({"bogus": 1})), ["c.bogus"]);
        assert_eq!(error_paths(json!(["labels"])), ["c"]);
        assert_eq!(error_paths(json!({"labels": 5})), ["c.labels"]);
        assert_eq!(error_paths(json!({"labels": []})), ["c.labels"]);
        assert_eq!(error_paths(json!({"labels": ["a", 1]})), ["c.labels[1]"]);
        assert_eq!(error_paths(json!({"label": ["a"]})), ["c.label"]);
        assert_eq!(
            error_paths(json!({"body_contains": null})),
            ["c.body_contains"]
        );
        assert_eq!(error_paths(json!({"channel": "#"})), ["c.channel"]);
        assert_eq!(error_paths(json!({"path": "a"})), ["c.op"]);
        assert_eq!(error_paths(json!({"op": "eq", "value": 1})), ["c.path"]);
        assert_eq!(error_paths(json!({"path": "a", "op": "eq"})), ["c.value"]);
        assert_eq!(
            error_paths(json!({"path": "a", "op": "like", "value": 1})),
            ["c.op"]
        );
        assert_eq!(error_paths(json!({"path": "a", "op": 3})), ["c.op"]);
        assert_eq!(error_paths(json!({"path": 3, "op": "exists"})), ["c.path"]);
        assert_eq!(
            error_paths(json!({"path": "a..b", "op": "exists"})),
            ["c.path"]
        );
        assert_eq!(
            error_paths(json!({"path": "a", "op": "in", "value": "x"})),
            ["c.value"]
        );
        assert_eq!(
            error_paths(json!({"path": "a", "op": "regex", "value": "("})),
            ["c.value"]
        );
        assert_eq!(
            error_paths(json!({"path": "a", "op": "regex", "value": 1})),
            ["c.value"]
        );
        assert_eq!(
            error_paths(json!({"path": "a", "op": "exists", "value": "yes"})),
            ["c.value"]
        );
        assert_eq!(
            error_paths(json!({"path": "a", "op": "gt", "value": [1]})),
            ["c.value"]
        );
        assert_eq!(error_paths(json!({"all": {}})), ["c.all"]);
        assert_eq!(
            error_paths(json!({"any": [{"labels": "x"}, {"not": {"nope": 1}}]})),
            ["c.any[1].not.nope"]
        );
        assert_eq!(error_paths(json!({"not": [1]})), ["c.not"]);
        assert_eq!(
            error_paths(json!({"path": "a", "op": "regex", "value": "x{99999}{99999}"})),
            ["c.value"]
        );
        // Too deep.
        let mut deep = json!({});
        for _ in 0..40 {
            deep = json!({ "not": deep });
        }
        assert_eq!(error_paths(deep).len(), 1);
        // Several problems are all reported.
        assert_eq!(
            error_paths(json!({"labels": 1, "label": 2, "x": 3})).len(),
            3
        );
    }

    /// Small payloads over a few keys, so random paths often reach something.
    fn payload() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (-3i64..4).prop_map(|n| json!(n)),
            prop_oneof![Just("x"), Just("y"), Just("xy")].prop_map(|s| json!(s)),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map(
                    prop_oneof![Just("a"), Just("b"), Just("c")].prop_map(String::from),
                    inner,
                    0..4
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn scalar() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (-3i64..4).prop_map(|n| json!(n)),
            prop_oneof![Just("x"), Just("y"), Just("xy")].prop_map(|s| json!(s)),
        ]
    }

    /// A random valid leaf or shorthand.
    fn leaf() -> impl Strategy<Value = Value> {
        let path = prop_oneof![
            Just("a"),
            Just("b"),
            Just("a.b"),
            Just("a[*]"),
            Just("a[0]"),
            Just("*"),
            Just("a.*.c"),
            Just("c[*].a"),
            Just("b.0")
        ];
        let op_leaf = (path, 0..10usize, scalar()).prop_map(|(path, op, v)| match op {
            0 => json!({"path": path, "op": "eq", "value": v}),
            1 => json!({"path": path, "op": "ne", "value": v}),
            2 => json!({"path": path, "op": "in", "value": [v, "x"]}),
            3 => json!({"path": path, "op": "contains", "value": v}),
            4 => json!({"path": path, "op": "regex", "value": "^x"}),
            5 => json!({"path": path, "op": "exists", "value": v.as_bool().unwrap_or(true)}),
            6 => json!({"path": path, "op": "gt", "value": 0}),
            7 => json!({"path": path, "op": "lte", "value": "x"}),
            8 => json!({"path": path, "op": "lt", "value": 2}),
            _ => json!({"path": path, "op": "gte", "value": "xy"}),
        });
        prop_oneof![
            4 => op_leaf,
            1 => prop_oneof![Just("x"), Just("y")].prop_map(|s| json!({"labels": [s]})),
            1 => prop_oneof![Just("x"), Just("y")].prop_map(|s| json!({"body_contains": s})),
        ]
    }

    proptest! {
        #[test]
        fn not_is_negation(p in payload(), c in leaf()) {
            prop_assert_eq!(holds(json!({"not": c.clone()}), &p), !holds(c, &p));
        }

        #[test]
        fn all_is_and(p in payload(), a in leaf(), b in leaf()) {
            let both = holds(json!({"all": [a.clone(), b.clone()]}), &p);
            prop_assert_eq!(both, holds(a, &p) && holds(b, &p));
        }

        #[test]
        fn any_is_or(p in payload(), a in leaf(), b in leaf()) {
            let either = holds(json!({"any": [a.clone(), b.clone()]}), &p);
            prop_assert_eq!(either, holds(a, &p) || holds(b, &p));
        }

        #[test]
        fn eq_finds_what_was_put_there(p in payload(), v in payload(), k1 in "[a-c]", k2 in "[a-c]") {
            let mut p = if p.is_object() { p } else { json!({}) };
            let inner = p.as_object_mut().and_then(|m| {
                let e = m.entry(k1.clone()).or_insert_with(|| json!({}));
                if !e.is_object() { *e = json!({}); }
                e.as_object_mut()
            }).unwrap();
            inner.insert(k2.clone(), v.clone());
            let path = format!("{k1}.{k2}");
            let eq = json!({"path": path, "op": "eq", "value": v});
            let ne = json!({"path": path, "op": "ne", "value": v});
            let is_in = json!({"path": path, "op": "in", "value": [v]});
            prop_assert!(holds(eq, &p));
            prop_assert!(!holds(ne, &p));
            prop_assert!(holds(is_in, &p));
        }

        #[test]
        fn shorthand_and_leaf_side_by_side_are_and(p in payload(), a in leaf()) {
            let both = json!({"all": [a.clone(), {"labels": "x"}]});
            let mut merged = a.as_object().unwrap().clone();
            if merged.contains_key("labels") {
                return Ok(());
            }
            merged.insert("labels".into(), json!("x"));
            prop_assert_eq!(holds(Value::Object(merged), &p), holds(both, &p));
        }
    }
}
