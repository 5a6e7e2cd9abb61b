//! State types: configurable-agents' type strings (`str`, `int`, `float`, `bool`,
//! `list[T]`, `dict[K, V]`, `object` with or without a `schema`), the state schema a
//! workflow declares, and what a value must be to go into a field.
//!
//! `check` is strict (a value that is not already of the type is refused);
//! `convert` is what rendered or model-produced values go through: a string `"42"`
//! into an `int` field becomes `42`, `"x"` is an error naming the field.

use std::collections::BTreeMap;

use serde_json::{Map, Number, Value};

use crate::routing::FieldError;

/// Deepest nesting a type string may have (`list[list[...]]`).
const MAX_DEPTH: usize = 16;

/// A state field's type.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldType {
    Str,
    Int,
    Float,
    Bool,
    /// `list` (any items) or `list[T]`.
    List(Option<Box<FieldType>>),
    /// `dict` (any keys and values) or `dict[K, V]`; keys are `str` or `int`.
    Dict(Option<(Box<FieldType>, Box<FieldType>)>),
    /// `object`: any mapping, or one with a declared `schema` of fields.
    Object(Option<BTreeMap<String, StateField>>),
}

/// One declared field: its type, whether inputs must give it, its default.
#[derive(Debug, Clone, PartialEq)]
pub struct StateField {
    pub ty: FieldType,
    pub required: bool,
    /// The value when inputs do not give one; `None` starts the field as null.
    pub default: Option<Value>,
    pub description: Option<String>,
}

/// The fields of a workflow's state.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StateSchema {
    pub fields: BTreeMap<String, StateField>,
}

impl FieldType {
    /// Parses a type string as configurable-agents writes it.
    pub fn parse(s: &str) -> Result<Self, String> {
        parse_at(s, 0)
    }

    /// Whether `v` already has this type (null never does).
    pub fn check(&self, v: &Value) -> Result<(), String> {
        match (self, v) {
            (FieldType::Str, Value::String(_)) | (FieldType::Bool, Value::Bool(_)) => Ok(()),
            (FieldType::Int, Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(()),
            (FieldType::Float, Value::Number(_)) => Ok(()),
            (FieldType::List(item), Value::Array(items)) => {
                if let Some(t) = item {
                    for (i, x) in items.iter().enumerate() {
                        t.check(x).map_err(|e| format!("[{i}]{}", nested(&e)))?;
                    }
                }
                Ok(())
            }
            (FieldType::Dict(kv), Value::Object(m)) => {
                if let Some((k, vt)) = kv {
                    for (key, x) in m {
                        if **k == FieldType::Int && key.parse::<i64>().is_err() {
                            return Err(format!("key {key:?}: expected int"));
                        }
                        vt.check(x).map_err(|e| format!(".{key}{}", nested(&e)))?;
                    }
                }
                Ok(())
            }
            (FieldType::Object(schema), Value::Object(m)) => {
                if let Some(fields) = schema {
                    for (name, f) in fields {
                        match m.get(name) {
                            None | Some(Value::Null) if f.required => {
                                return Err(format!(".{name}: is required"));
                            }
                            None | Some(Value::Null) => {}
                            Some(x) => {
                                f.ty.check(x)
                                    .map_err(|e| format!(".{name}{}", nested(&e)))?
                            }
                        }
                    }
                }
                Ok(())
            }
            _ => Err(format!("expected {self}, got {}", describe(v))),
        }
    }

    /// `v` made into this type where that loses nothing: numbers and booleans from
    /// their text, an `int` from a whole float, text from a number or boolean, lists
    /// and mappings from their JSON text, item by item.
    pub fn convert(&self, v: Value) -> Result<Value, String> {
        if self.check(&v).is_ok() {
            return Ok(v);
        }
        let bad = |v: &Value| format!("expected {self}, got {}", describe(v));
        match (self, v) {
            (FieldType::Str, Value::Number(n)) => Ok(Value::String(n.to_string())),
            (FieldType::Str, Value::Bool(b)) => Ok(Value::String(b.to_string())),
            (FieldType::Int, Value::String(s)) => match s.trim().parse::<i64>() {
                Ok(i) => Ok(Value::from(i)),
                Err(_) => match s.trim().parse::<f64>() {
                    Ok(f) => whole(f).ok_or_else(|| bad(&Value::String(s))),
                    Err(_) => Err(bad(&Value::String(s))),
                },
            },
            (FieldType::Int, Value::Number(n)) => n
                .as_f64()
                .and_then(whole)
                .ok_or_else(|| bad(&Value::Number(n))),
            (FieldType::Float, Value::String(s)) => s
                .trim()
                .parse::<f64>()
                .ok()
                .and_then(Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| bad(&Value::String(s))),
            (FieldType::Bool, Value::String(s)) => match s.trim() {
                "true" | "True" | "TRUE" => Ok(Value::Bool(true)),
                "false" | "False" | "FALSE" => Ok(Value::Bool(false)),
                _ => Err(bad(&Value::String(s))),
            },
            (FieldType::List(_) | FieldType::Dict(_) | FieldType::Object(_), Value::String(s)) => {
                match serde_json::from_str::<Value>(s.trim()) {
                    Ok(parsed @ (Value::Array(_) | Value::Object(_))) => self.convert(parsed),
                    _ => Err(bad(&Value::String(s))),
                }
            }
            (FieldType::List(Some(item)), Value::Array(items)) => items
                .into_iter()
                .enumerate()
                .map(|(i, x)| item.convert(x).map_err(|e| format!("[{i}]{}", nested(&e))))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            (FieldType::Dict(Some((k, vt))), Value::Object(m)) => {
                let mut out = Map::new();
                for (key, x) in m {
                    if **k == FieldType::Int && key.parse::<i64>().is_err() {
                        return Err(format!("key {key:?}: expected int"));
                    }
                    let x = vt.convert(x).map_err(|e| format!(".{key}{}", nested(&e)))?;
                    out.insert(key, x);
                }
                Ok(Value::Object(out))
            }
            (FieldType::Object(Some(fields)), Value::Object(mut m)) => {
                for (name, f) in fields {
                    match m.remove(name) {
                        None | Some(Value::Null) if f.required => {
                            return Err(format!(".{name}: is required"));
                        }
                        None => {}
                        Some(Value::Null) => {
                            m.insert(name.clone(), Value::Null);
                        }
                        Some(x) => {
                            let x =
                                f.ty.convert(x)
                                    .map_err(|e| format!(".{name}{}", nested(&e)))?;
                            m.insert(name.clone(), x);
                        }
                    }
                }
                Ok(Value::Object(m))
            }
            (_, v) => Err(bad(&v)),
        }
    }

    /// The JSON schema of this type, for structured LLM output.
    pub fn json_schema(&self) -> Value {
        use serde_json::json;
        match self {
            FieldType::Str => json!({"type": "string"}),
            FieldType::Int => json!({"type": "integer"}),
            FieldType::Float => json!({"type": "number"}),
            FieldType::Bool => json!({"type": "boolean"}),
            FieldType::List(None) => json!({"type": "array"}),
            FieldType::List(Some(t)) => json!({"type": "array", "items": t.json_schema()}),
            FieldType::Dict(None) | FieldType::Object(None) => json!({"type": "object"}),
            FieldType::Dict(Some((_, v))) => {
                json!({"type": "object", "additionalProperties": v.json_schema()})
            }
            FieldType::Object(Some(fields)) => {
                let mut props = Map::new();
                let mut required = Vec::new();
                for (name, f) in fields {
                    let mut s = f.ty.json_schema();
                    if let (Some(d), Value::Object(o)) = (&f.description, &mut s) {
                        o.insert("description".into(), Value::String(d.clone()));
                    }
                    props.insert(name.clone(), s);
                    if f.required {
                        required.push(Value::String(name.clone()));
                    }
                }
                json!({"type": "object", "properties": props, "required": required})
            }
        }
    }
}

fn whole(f: f64) -> Option<Value> {
    // Beyond 2^53 a float no longer tells neighbouring integers apart.
    (f.fract() == 0.0 && f.abs() <= 9_007_199_254_740_992.0).then(|| Value::from(f as i64))
}

/// Joins a nested error to its parent's path: `[2]` + `: expected str`.
fn nested(e: &str) -> String {
    if e.starts_with('[') || e.starts_with('.') || e.starts_with("key ") {
        if e.starts_with("key ") {
            format!(": {e}")
        } else {
            e.to_owned()
        }
    } else {
        format!(": {e}")
    }
}

/// A value's kind for messages, with a short excerpt of scalars.
pub(crate) fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("bool {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) => {
            let short: String = s.chars().take(40).collect();
            if short.len() < s.len() {
                format!("string {short:?}…")
            } else {
                format!("string {short:?}")
            }
        }
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "a mapping".into(),
    }
}

fn parse_at(s: &str, depth: usize) -> Result<FieldType, String> {
    let s = s.trim();
    if depth > MAX_DEPTH {
        return Err("type is nested too deeply".into());
    }
    let unknown = || {
        format!("unknown type {s:?}; expected str, int, float, bool, list, list[T], dict, dict[K, V] or object")
    };
    Ok(match s {
        "str" => FieldType::Str,
        "int" => FieldType::Int,
        "float" => FieldType::Float,
        "bool" => FieldType::Bool,
        "list" => FieldType::List(None),
        "dict" => FieldType::Dict(None),
        "object" => FieldType::Object(None),
        _ => {
            if let Some(inner) = s.strip_prefix("list[").and_then(|r| r.strip_suffix(']')) {
                FieldType::List(Some(Box::new(parse_at(inner, depth + 1)?)))
            } else if let Some(inner) = s.strip_prefix("dict[").and_then(|r| r.strip_suffix(']')) {
                let (k, v) = split_top_comma(inner).ok_or_else(|| {
                    format!("{s:?}: dict takes a key and a value type, as dict[str, int]")
                })?;
                let k = parse_at(k, depth + 1)?;
                if !matches!(k, FieldType::Str | FieldType::Int) {
                    return Err(format!("{s:?}: dict keys must be str or int"));
                }
                FieldType::Dict(Some((Box::new(k), Box::new(parse_at(v, depth + 1)?))))
            } else {
                return Err(unknown());
            }
        }
    })
}

/// Splits `K, V` at the comma outside brackets.
fn split_top_comma(s: &str) -> Option<(&str, &str)> {
    let mut depth = 0usize;
    for (i, c) in s.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.checked_sub(1)?,
            ',' if depth == 0 => return Some((&s[..i], &s[i + 1..])),
            _ => {}
        }
    }
    None
}

impl std::fmt::Display for FieldType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FieldType::Str => f.write_str("str"),
            FieldType::Int => f.write_str("int"),
            FieldType::Float => f.write_str("float"),
            FieldType::Bool => f.write_str("bool"),
            FieldType::List(None) => f.write_str("list"),
            FieldType::List(Some(t)) => write!(f, "list[{t}]"),
            FieldType::Dict(None) => f.write_str("dict"),
            FieldType::Dict(Some((k, v))) => write!(f, "dict[{k}, {v}]"),
            FieldType::Object(_) => f.write_str("object"),
        }
    }
}

impl StateSchema {
    pub fn field(&self, name: &str) -> Option<&StateField> {
        self.fields.get(name)
    }

    fn lookup(&self, field: &str) -> Result<&StateField, FieldError> {
        self.fields
            .get(field)
            .ok_or_else(|| FieldError::new(field, "is not a state field"))
    }

    /// Whether `v` may be stored in `field` as it is.
    pub fn check(&self, field: &str, v: &Value) -> Result<(), FieldError> {
        let f = self.lookup(field)?;
        f.ty.check(v).map_err(|e| error_at(field, &e))
    }

    /// `v` converted to `field`'s type (see [`FieldType::convert`]).
    pub fn convert(&self, field: &str, v: Value) -> Result<Value, FieldError> {
        let f = self.lookup(field)?;
        if v.is_null() {
            return Err(FieldError::new(
                field,
                format!("expected {}, got null", f.ty),
            ));
        }
        f.ty.convert(v).map_err(|e| error_at(field, &e))
    }

    /// A run's first state: each input converted into its field, defaults for the
    /// rest, null for optional fields without a default. Every problem at once:
    /// unknown inputs, missing required fields, values that do not convert.
    pub fn initial(
        &self,
        inputs: &Map<String, Value>,
    ) -> Result<Map<String, Value>, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut state = Map::new();
        for key in inputs.keys() {
            if !self.fields.contains_key(key) {
                errors.push(FieldError::new(key.as_str(), "is not a state field"));
            }
        }
        for (name, f) in &self.fields {
            match inputs.get(name) {
                Some(v) if !v.is_null() => match self.convert(name, v.clone()) {
                    Ok(v) => {
                        state.insert(name.clone(), v);
                    }
                    Err(e) => errors.push(e),
                },
                _ if f.required => errors.push(FieldError::new(name.as_str(), "is required")),
                _ => {
                    state.insert(name.clone(), f.default.clone().unwrap_or(Value::Null));
                }
            }
        }
        if errors.is_empty() {
            Ok(state)
        } else {
            Err(errors)
        }
    }
}

/// A nested error (`[2]: expected str`) as a field error at `field[2]`.
pub(crate) fn error_at(field: &str, e: &str) -> FieldError {
    // The nested part of the path ends at the first ": " outside the path.
    if e.starts_with('[') || e.starts_with('.') {
        if let Some((path, msg)) = e.split_once(": ") {
            return FieldError::new(format!("{field}{path}"), msg);
        }
    }
    if let Some(rest) = e.strip_prefix("key ") {
        return FieldError::new(field, format!("key {rest}"));
    }
    FieldError::new(field, e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn t(s: &str) -> FieldType {
        FieldType::parse(s).unwrap()
    }

    #[test]
    fn type_strings() {
        assert_eq!(t("str"), FieldType::Str);
        assert_eq!(t(" list[ str ] ").to_string(), "list[str]");
        assert_eq!(
            t("dict[str, list[int]]").to_string(),
            "dict[str, list[int]]"
        );
        assert_eq!(
            t("list[object]"),
            FieldType::List(Some(Box::new(FieldType::Object(None))))
        );
        assert_eq!(
            t("dict[str,dict[str, int]]").to_string(),
            "dict[str, dict[str, int]]"
        );
        for bad in [
            "string",
            "list[",
            "list[foo]",
            "dict[str]",
            "dict[float, int]",
            "",
            "List[str]",
        ] {
            assert!(FieldType::parse(bad).is_err(), "{bad}");
        }
        let deep = format!("{}str{}", "list[".repeat(40), "]".repeat(40));
        assert!(FieldType::parse(&deep).is_err());
    }

    #[test]
    fn check_is_strict() {
        assert!(t("int").check(&json!(3)).is_ok());
        assert!(t("int").check(&json!(3.0)).is_err());
        assert!(t("float").check(&json!(3)).is_ok());
        assert!(t("str").check(&json!(null)).is_err());
        assert_eq!(
            t("list[str]").check(&json!(["a", 1])).unwrap_err(),
            "[1]: expected str, got number 1"
        );
        assert!(t("dict[int, str]").check(&json!({"1": "a"})).is_ok());
        assert!(t("dict[int, str]").check(&json!({"x": "a"})).is_err());
        assert!(t("list[object]").check(&json!([{"a": 1}, {}])).is_ok());
    }

    #[test]
    fn convert_rendered_text() {
        let mut s = StateSchema::default();
        for (name, ty) in [
            ("n", "int"),
            ("f", "float"),
            ("b", "bool"),
            ("l", "list[int]"),
            ("s", "str"),
        ] {
            s.fields.insert(
                name.into(),
                StateField {
                    ty: t(ty),
                    required: false,
                    default: None,
                    description: None,
                },
            );
        }
        assert_eq!(s.convert("n", json!("42")).unwrap(), json!(42));
        assert_eq!(s.convert("n", json!(" 7 ")).unwrap(), json!(7));
        assert_eq!(s.convert("n", json!(2.0)).unwrap(), json!(2));
        let e = s.convert("n", json!("x")).unwrap_err();
        assert_eq!(e.path, "n");
        assert_eq!(e.message, "expected int, got string \"x\"");
        assert!(s.convert("n", json!(2.5)).is_err());
        assert_eq!(s.convert("f", json!("0.5")).unwrap(), json!(0.5));
        assert!(s.convert("f", json!("NaN")).is_err());
        assert_eq!(s.convert("b", json!("true")).unwrap(), json!(true));
        assert_eq!(s.convert("l", json!("[1, \"2\"]")).unwrap(), json!([1, 2]));
        let e = s.convert("l", json!([1, "x"])).unwrap_err();
        assert_eq!(
            (e.path.as_str(), e.message.as_str()),
            ("l[1]", "expected int, got string \"x\"")
        );
        assert_eq!(s.convert("s", json!(5)).unwrap(), json!("5"));
        assert!(s.convert("s", json!(null)).is_err());
        assert_eq!(s.convert("nope", json!(1)).unwrap_err().path, "nope");
    }

    #[test]
    fn initial_state() {
        let mut s = StateSchema::default();
        s.fields.insert(
            "q".into(),
            StateField {
                ty: t("str"),
                required: true,
                default: None,
                description: None,
            },
        );
        s.fields.insert(
            "n".into(),
            StateField {
                ty: t("int"),
                required: false,
                default: Some(json!(0)),
                description: None,
            },
        );
        s.fields.insert(
            "o".into(),
            StateField {
                ty: t("str"),
                required: false,
                default: None,
                description: None,
            },
        );
        let ok = s
            .initial(json!({"q": "hi", "n": "3"}).as_object().unwrap())
            .unwrap();
        assert_eq!(Value::Object(ok), json!({"q": "hi", "n": 3, "o": null}));
        let errs = s
            .initial(json!({"n": "x", "zz": 1}).as_object().unwrap())
            .unwrap_err();
        let paths: Vec<_> = errs.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["zz", "n", "q"]);
    }

    #[test]
    fn schemas() {
        assert_eq!(
            t("list[dict[str, float]]").json_schema(),
            json!({"type": "array", "items": {"type": "object", "additionalProperties": {"type": "number"}}})
        );
    }

    fn any_type() -> impl Strategy<Value = FieldType> {
        let leaf = prop_oneof![
            Just(FieldType::Str),
            Just(FieldType::Int),
            Just(FieldType::Float),
            Just(FieldType::Bool),
            Just(FieldType::Object(None)),
            Just(FieldType::List(None)),
        ];
        leaf.prop_recursive(3, 8, 2, |inner| {
            prop_oneof![
                inner
                    .clone()
                    .prop_map(|t| FieldType::List(Some(Box::new(t)))),
                inner.prop_map(|t| FieldType::Dict(Some((Box::new(FieldType::Str), Box::new(t))))),
            ]
        })
    }

    proptest! {
        #[test]
        fn display_parses_back(ty in any_type()) {
            prop_assert_eq!(FieldType::parse(&ty.to_string()).unwrap(), ty);
        }

        #[test]
        fn convert_is_total_and_checked(ty in any_type(), s in ".{0,12}", n in any::<i64>(), f in any::<f64>()) {
            for v in [json!(s), json!(n), json!(f), json!([s, n]), json!({"k": n}), json!(true)] {
                if let Ok(out) = ty.convert(v) {
                    prop_assert!(ty.check(&out).is_ok());
                }
            }
        }
    }
}
