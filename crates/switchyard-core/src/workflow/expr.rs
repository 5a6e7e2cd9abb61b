//! `condition.logic`: the small expression language of route conditions.
//!
//! ```text
//! or   := and ("or" and)*
//! and  := not ("and" not)*
//! not  := "not" not | cmp
//! cmp  := atom (("==" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "not in") atom)?
//! atom := literal | path | "len(" or ")" | "(" or ")" | "[" (or ("," or)*)? "]"
//! path := name ("." name | "[" integer "]")*        (`state.x` and `x` alike)
//! ```
//!
//! Literals are numbers, strings in single or double quotes, `true`/`false`/`null`
//! (and Python's `True`/`False`/`None`, as configurable-agents evaluates Python).
//! Expressions are parsed when a workflow loads; evaluation is total: a type
//! mismatch (`"a" < 1`, `len(3)`, `1 and true`) is an [`EvalError`], never a panic.

use serde_json::Value;

/// Deepest nesting an expression may have; keeps recursion bounded on any input.
const MAX_DEPTH: usize = 48;
/// Longest expression accepted.
const MAX_LEN: usize = 4096;

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Lit(Value),
    /// A path into the state: its field, then keys and indices.
    Path(Vec<Seg>),
    List(Vec<Expr>),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Cmp(Op, Box<Expr>, Box<Expr>),
    Len(Box<Expr>),
}

/// One step of a path.
#[derive(Debug, Clone, PartialEq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    NotIn,
}

/// Why an expression could not be evaluated on a state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct EvalError(pub String);

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(Value),
    Str(String),
    Name(String),
    Op(&'static str),
}

impl Expr {
    /// Parses an expression; the error says what is wrong and where.
    pub fn parse(src: &str) -> Result<Expr, String> {
        if src.len() > MAX_LEN {
            return Err(format!("expression is longer than {MAX_LEN} bytes"));
        }
        let toks = lex(src)?;
        let mut p = Parser {
            toks,
            pos: 0,
            depth: 0,
        };
        let e = p.or()?;
        if let Some(t) = p.toks.get(p.pos) {
            return Err(format!("unexpected {} after the expression", show(t)));
        }
        Ok(e)
    }

    /// The state fields the expression reads (each path's first name).
    pub fn fields(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.walk(&mut |e| {
            if let Expr::Path(segs) = e {
                if let Some(Seg::Key(k)) = segs.first() {
                    out.push(k.as_str());
                }
            }
        });
        out
    }

    fn walk<'a>(&'a self, f: &mut dyn FnMut(&'a Expr)) {
        f(self);
        match self {
            Expr::Lit(_) | Expr::Path(_) => {}
            Expr::List(xs) => xs.iter().for_each(|x| x.walk(f)),
            Expr::Not(x) | Expr::Len(x) => x.walk(f),
            Expr::And(a, b) | Expr::Or(a, b) | Expr::Cmp(_, a, b) => {
                a.walk(f);
                b.walk(f);
            }
        }
    }

    /// The expression's value on `state` (a JSON object of fields).
    pub fn eval(&self, state: &Value) -> Result<Value, EvalError> {
        Ok(match self {
            Expr::Lit(v) => v.clone(),
            Expr::Path(segs) => {
                let mut cur = state;
                for s in segs {
                    let next = match (s, cur) {
                        (Seg::Key(k), Value::Object(m)) => m.get(k),
                        (Seg::Index(i), Value::Array(a)) => a.get(*i),
                        _ => None,
                    };
                    match next {
                        Some(v) => cur = v,
                        // A missing key reads as null, as an unset optional field does.
                        None => return Ok(Value::Null),
                    }
                }
                cur.clone()
            }
            Expr::List(xs) => {
                Value::Array(xs.iter().map(|x| x.eval(state)).collect::<Result<_, _>>()?)
            }
            Expr::Not(x) => Value::Bool(!truth(&x.eval(state)?, "not")?),
            Expr::And(a, b) => {
                Value::Bool(truth(&a.eval(state)?, "and")? && truth(&b.eval(state)?, "and")?)
            }
            Expr::Or(a, b) => {
                Value::Bool(truth(&a.eval(state)?, "or")? || truth(&b.eval(state)?, "or")?)
            }
            Expr::Len(x) => match x.eval(state)? {
                Value::String(s) => Value::from(s.chars().count()),
                Value::Array(a) => Value::from(a.len()),
                Value::Object(m) => Value::from(m.len()),
                other => return Err(EvalError(format!("len() of {}", kind(&other)))),
            },
            Expr::Cmp(op, a, b) => {
                let (a, b) = (a.eval(state)?, b.eval(state)?);
                Value::Bool(compare(*op, &a, &b)?)
            }
        })
    }

    /// Evaluates a condition: its value must be a boolean.
    pub fn test(&self, state: &Value) -> Result<bool, EvalError> {
        truth(&self.eval(state)?, "a condition")
    }
}

fn truth(v: &Value, what: &str) -> Result<bool, EvalError> {
    match v {
        Value::Bool(b) => Ok(*b),
        other => Err(EvalError(format!(
            "{what} needs true or false, got {}",
            kind(other)
        ))),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a bool",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// JSON equality, except that numbers compare by value (`1 == 1.0`).
fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(i), Some(j)) => i == j,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| equal(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| equal(v, w)))
        }
        _ => a == b,
    }
}

fn compare(op: Op, a: &Value, b: &Value) -> Result<bool, EvalError> {
    let order = || -> Result<std::cmp::Ordering, EvalError> {
        match (a, b) {
            (Value::Number(x), Value::Number(y)) => {
                let ord = match (x.as_i64(), y.as_i64()) {
                    (Some(i), Some(j)) => Some(i.cmp(&j)),
                    _ => x
                        .as_f64()
                        .zip(y.as_f64())
                        .and_then(|(p, q)| p.partial_cmp(&q)),
                };
                ord.ok_or_else(|| EvalError("numbers that do not compare".into()))
            }
            (Value::String(x), Value::String(y)) => Ok(x.cmp(y)),
            _ => Err(EvalError(format!(
                "cannot order {} and {}",
                kind(a),
                kind(b)
            ))),
        }
    };
    use std::cmp::Ordering::*;
    Ok(match op {
        Op::Eq => equal(a, b),
        Op::Ne => !equal(a, b),
        Op::Lt => order()? == Less,
        Op::Le => order()? != Greater,
        Op::Gt => order()? == Greater,
        Op::Ge => order()? != Less,
        Op::In | Op::NotIn => {
            let found = match (a, b) {
                (_, Value::Array(xs)) => xs.iter().any(|x| equal(a, x)),
                (Value::String(s), Value::String(t)) => t.contains(s.as_str()),
                (Value::String(s), Value::Object(m)) => m.contains_key(s),
                _ => return Err(EvalError(format!("`in` of {} in {}", kind(a), kind(b)))),
            };
            found == (op == Op::In)
        }
    })
}

fn show(t: &Tok) -> String {
    match t {
        Tok::Num(n) => format!("number {n}"),
        Tok::Str(s) => format!("string {s:?}"),
        Tok::Name(n) => format!("`{n}`"),
        Tok::Op(o) => format!("`{o}`"),
    }
}

fn lex(src: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit()
            || (c == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            let from = i;
            i += 1;
            while chars
                .get(i)
                .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_'))
                || (matches!(chars.get(i), Some('+' | '-'))
                    && matches!(chars.get(i - 1), Some('e' | 'E')))
            {
                i += 1;
            }
            let text: String = chars[from..i].iter().filter(|c| **c != '_').collect();
            let v = if let Ok(n) = text.parse::<i64>() {
                Value::from(n)
            } else {
                text.parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite())
                    .and_then(serde_json::Number::from_f64)
                    .map(Value::Number)
                    .ok_or_else(|| format!("bad number {text:?}"))?
            };
            out.push(Tok::Num(v));
        } else if c == '"' || c == '\'' {
            i += 1;
            let mut s = String::new();
            loop {
                match chars.get(i) {
                    None => return Err("unterminated string".into()),
                    Some('\\') => {
                        let e = chars.get(i + 1).ok_or("unterminated string")?;
                        s.push(match e {
                            'n' => '\n',
                            't' => '\t',
                            other => *other,
                        });
                        i += 2;
                    }
                    Some(&q) if q == c => {
                        i += 1;
                        break;
                    }
                    Some(&x) => {
                        s.push(x);
                        i += 1;
                    }
                }
            }
            out.push(Tok::Str(s));
        } else if c.is_alphabetic() || c == '_' {
            let from = i;
            while chars
                .get(i)
                .is_some_and(|c| c.is_alphanumeric() || *c == '_')
            {
                i += 1;
            }
            out.push(Tok::Name(chars[from..i].iter().collect()));
        } else {
            let two: String = chars[i..chars.len().min(i + 2)].iter().collect();
            let op = ["==", "!=", "<=", ">="].into_iter().find(|o| *o == two);
            if let Some(op) = op {
                out.push(Tok::Op(op));
                i += 2;
            } else {
                let op = ["<", ">", "(", ")", "[", "]", ",", "."]
                    .into_iter()
                    .find(|o| o.starts_with(c))
                    .ok_or_else(|| format!("unexpected character {c:?}"))?;
                out.push(Tok::Op(op));
                i += 1;
            }
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn is_name(&self, n: &str) -> bool {
        matches!(self.peek(), Some(Tok::Name(x)) if x == n)
    }

    fn is_op(&self, o: &str) -> bool {
        matches!(self.peek(), Some(Tok::Op(x)) if *x == o)
    }

    fn expect(&mut self, o: &str) -> Result<(), String> {
        if self.is_op(o) {
            self.pos += 1;
            Ok(())
        } else {
            Err(match self.peek() {
                Some(t) => format!("expected `{o}`, found {}", show(t)),
                None => format!("expected `{o}` at the end"),
            })
        }
    }

    fn enter(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            Err("expression is nested too deeply".into())
        } else {
            Ok(())
        }
    }

    fn or(&mut self) -> Result<Expr, String> {
        self.enter()?;
        let mut e = self.and()?;
        while self.is_name("or") {
            self.pos += 1;
            e = Expr::Or(Box::new(e), Box::new(self.and()?));
        }
        self.depth -= 1;
        Ok(e)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut e = self.not()?;
        while self.is_name("and") {
            self.pos += 1;
            e = Expr::And(Box::new(e), Box::new(self.not()?));
        }
        Ok(e)
    }

    fn not(&mut self) -> Result<Expr, String> {
        if self.is_name("not") {
            self.pos += 1;
            self.enter()?;
            let e = Expr::Not(Box::new(self.not()?));
            self.depth -= 1;
            return Ok(e);
        }
        self.cmp()
    }

    fn cmp_op(&mut self) -> Option<Op> {
        let op = match self.peek()? {
            Tok::Op("==") => Op::Eq,
            Tok::Op("!=") => Op::Ne,
            Tok::Op("<") => Op::Lt,
            Tok::Op("<=") => Op::Le,
            Tok::Op(">") => Op::Gt,
            Tok::Op(">=") => Op::Ge,
            Tok::Name(n) if n == "in" => Op::In,
            Tok::Name(n)
                if n == "not"
                    && matches!(self.toks.get(self.pos + 1), Some(Tok::Name(x)) if x == "in") =>
            {
                self.pos += 1;
                Op::NotIn
            }
            _ => return None,
        };
        self.pos += 1;
        Some(op)
    }

    fn cmp(&mut self) -> Result<Expr, String> {
        let a = self.atom()?;
        let Some(op) = self.cmp_op() else {
            return Ok(a);
        };
        let b = self.atom()?;
        if self.cmp_op().is_some() {
            return Err("chained comparisons are not supported; join them with `and`".into());
        }
        Ok(Expr::Cmp(op, Box::new(a), Box::new(b)))
    }

    fn atom(&mut self) -> Result<Expr, String> {
        let Some(t) = self.peek().cloned() else {
            return Err("expected a value at the end".into());
        };
        self.pos += 1;
        match t {
            Tok::Num(v) => Ok(Expr::Lit(v)),
            Tok::Str(s) => Ok(Expr::Lit(Value::String(s))),
            Tok::Op("(") => {
                let e = self.or()?;
                self.expect(")")?;
                Ok(e)
            }
            Tok::Op("[") => {
                self.enter()?;
                let mut xs = Vec::new();
                if !self.is_op("]") {
                    loop {
                        xs.push(self.or()?);
                        if self.is_op(",") {
                            self.pos += 1;
                            if self.is_op("]") {
                                break;
                            }
                        } else {
                            break;
                        }
                    }
                }
                self.expect("]")?;
                self.depth -= 1;
                Ok(Expr::List(xs))
            }
            Tok::Name(n) => match n.as_str() {
                "true" | "True" => Ok(Expr::Lit(Value::Bool(true))),
                "false" | "False" => Ok(Expr::Lit(Value::Bool(false))),
                "null" | "None" => Ok(Expr::Lit(Value::Null)),
                "and" | "or" | "not" | "in" => Err(format!("unexpected `{n}`")),
                "len" if self.is_op("(") => {
                    self.pos += 1;
                    let e = self.or()?;
                    self.expect(")")?;
                    Ok(Expr::Len(Box::new(e)))
                }
                _ => self.path(n),
            },
            Tok::Op(o) => Err(format!("unexpected `{o}`")),
        }
    }

    fn path(&mut self, first: String) -> Result<Expr, String> {
        let mut segs = Vec::new();
        // `state.x` and `x` name the same field.
        if first != "state" || !self.is_op(".") {
            segs.push(Seg::Key(first));
        }
        loop {
            if self.is_op(".") {
                self.pos += 1;
                match self.peek().cloned() {
                    Some(Tok::Name(k)) => {
                        self.pos += 1;
                        segs.push(Seg::Key(k));
                    }
                    _ => return Err("expected a name after `.`".into()),
                }
            } else if self.is_op("[") {
                self.pos += 1;
                match self.peek().cloned() {
                    Some(Tok::Num(Value::Number(n))) if n.as_u64().is_some() => {
                        self.pos += 1;
                        segs.push(Seg::Index(
                            usize::try_from(n.as_u64().unwrap_or(0)).unwrap_or(usize::MAX),
                        ));
                    }
                    Some(Tok::Str(k)) => {
                        self.pos += 1;
                        segs.push(Seg::Key(k));
                    }
                    _ => return Err("expected an index or a quoted key in `[...]`".into()),
                }
                self.expect("]")?;
            } else {
                return Ok(Expr::Path(segs));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn ev(src: &str, state: &Value) -> Result<Value, EvalError> {
        Expr::parse(src).unwrap().eval(state)
    }

    #[test]
    fn evaluates() {
        let s = json!({"severity": 0.9, "labels": ["bug", "p1"], "title": "Disk full",
                       "n": 3, "done": false, "meta": {"k": [1, 2]}, "none": null});
        for (src, want) in [
            ("state.severity >= 0.8", json!(true)),
            ("severity < 0.8", json!(false)),
            ("'bug' in state.labels and not done", json!(true)),
            ("'p2' not in labels", json!(true)),
            ("len(labels) == 2 or n > 10", json!(true)),
            ("'Disk' in title", json!(true)),
            ("n == 3.0", json!(true)),
            ("state.meta.k[1] == 2", json!(true)),
            ("meta['k'] == [1, 2]", json!(true)),
            ("none == null and None == null", json!(true)),
            ("not (n >= 3 and True)", json!(false)),
            ("n in [1, 2, 3,]", json!(true)),
            ("'k' in meta", json!(true)),
            ("missing.deep == null", json!(true)),
            ("-1 < n", json!(true)),
            ("len('héllo')", json!(5)),
        ] {
            assert_eq!(ev(src, &s), Ok(want), "{src}");
        }
    }

    #[test]
    fn type_mismatches_are_errors() {
        let s = json!({"title": "x", "n": 1});
        for src in [
            "title < 1",
            "len(n)",
            "n and true",
            "not title",
            "1 in n",
            "null < 1",
        ] {
            assert!(ev(src, &s).is_err(), "{src}");
        }
        assert!(Expr::parse("n").unwrap().test(&s).is_err());
    }

    #[test]
    fn parse_errors() {
        for src in [
            "",
            "a ==",
            "(a",
            "a b",
            "1 < 2 < 3",
            "a.",
            "'open",
            "a[x]",
            "and",
            "a @ b",
            "len 1",
        ] {
            assert!(Expr::parse(src).is_err(), "{src}");
        }
        let deep = format!("{}1{}", "(".repeat(500), ")".repeat(500));
        assert!(Expr::parse(&deep).is_err());
        let nots = "not ".repeat(500) + "true";
        assert!(Expr::parse(&nots).is_err());
    }

    #[test]
    fn fields_read() {
        let e = Expr::parse("state.a > 1 and b.c in [d] or len(state.e) == 0").unwrap();
        assert_eq!(e.fields(), ["a", "b", "d", "e"]);
    }

    proptest! {
        #[test]
        fn parse_and_eval_never_panic(src in "[a-z0-9 .()\\[\\]'\"<>=!,_-]{0,40}") {
            if let Ok(e) = Expr::parse(&src) {
                let _ = e.eval(&json!({"a": 1, "b": [1, "x"], "c": {"d": null}}));
            }
        }

        #[test]
        fn comparisons_agree_with_rust(a in any::<i64>(), b in any::<i64>()) {
            let s = json!({"a": a, "b": b});
            prop_assert_eq!(ev("a < b", &s), Ok(json!(a < b)));
            prop_assert_eq!(ev("state.a >= b", &s), Ok(json!(a >= b)));
            prop_assert_eq!(ev("a == b or a != b", &s), Ok(json!(true)));
            prop_assert_eq!(ev(&format!("a == {a}"), &s), Ok(json!(true)));
        }

        #[test]
        fn strings_round_trip(t in "[a-zA-Z0-9 ]{0,12}") {
            let s = json!({"t": t});
            prop_assert_eq!(ev(&format!("t == '{t}'"), &s), Ok(json!(true)));
            prop_assert_eq!(ev(&format!("\"{t}\" in t"), &s), Ok(json!(true)));
        }
    }
}
