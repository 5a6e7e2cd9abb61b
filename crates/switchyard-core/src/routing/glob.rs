//! Trigger patterns: an exact event type, or a glob where `*` matches any run of
//! characters (dots included) and `?` exactly one character.
//!
//! Matching uses the classic two-pointer wildcard algorithm: it remembers only the
//! last `*` and where it started trying, so it runs in O(pattern × text) at worst and
//! never backtracks exponentially, whatever pattern a user registers.

/// A compiled trigger, chosen once so the common cases skip the wildcard loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Trigger {
    /// `*`: every event.
    Any,
    /// No wildcard: the event type must be exactly this.
    Exact(String),
    /// Anything else.
    Glob(String),
}

impl Trigger {
    pub(crate) fn new(pattern: &str) -> Self {
        if !pattern.is_empty() && pattern.bytes().all(|b| b == b'*') {
            Trigger::Any
        } else if pattern.contains(['*', '?']) {
            Trigger::Glob(pattern.to_owned())
        } else {
            Trigger::Exact(pattern.to_owned())
        }
    }

    pub(crate) fn matches(&self, event_type: &str) -> bool {
        match self {
            Trigger::Any => true,
            Trigger::Exact(s) => s == event_type,
            Trigger::Glob(p) => glob_match(p, event_type),
        }
    }
}

/// Whether `text` matches the glob `pattern` (`*` any run, `?` one character, every
/// other character itself). A pattern without wildcards matches only itself.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    // Event types are ASCII, so bytes are characters there and nothing is allocated;
    // anything else is compared by `char` so `?` still means one character.
    if pattern.is_ascii() && text.is_ascii() {
        wildcard(pattern.as_bytes(), text.as_bytes(), b'*', b'?')
    } else {
        let p: Vec<char> = pattern.chars().collect();
        let t: Vec<char> = text.chars().collect();
        wildcard(&p, &t, '*', '?')
    }
}

fn wildcard<T: PartialEq + Copy>(p: &[T], t: &[T], star: T, one: T) -> bool {
    let (mut pi, mut ti) = (0, 0);
    // The position just after the last `*` seen, and the text position that `*` is
    // currently assumed to stop at; on a mismatch the `*` swallows one more character.
    let mut resume: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some(&c) if c == star => {
                pi += 1;
                resume = Some((pi, ti));
            }
            Some(&c) if c == one || c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match resume {
                Some((after_star, star_ti)) => {
                    pi = after_star;
                    ti = star_ti + 1;
                    resume = Some((after_star, ti));
                }
                None => return false,
            },
        }
    }
    // The text is used up: what is left of the pattern must be all stars.
    p[pi..].iter().all(|&c| c == star)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The obvious recursive definition, exponential but fine on short inputs.
    fn naive(p: &[char], t: &[char]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some(('*', rest)) => (0..=t.len()).any(|i| naive(rest, &t[i..])),
            Some(('?', rest)) => !t.is_empty() && naive(rest, &t[1..]),
            Some((c, rest)) => t.first() == Some(c) && naive(rest, &t[1..]),
        }
    }

    /// The same language as a regular expression, a second independent reference.
    fn via_regex(p: &str, t: &str) -> bool {
        let mut re = String::from("(?s)^");
        for c in p.chars() {
            match c {
                '*' => re.push_str(".*"),
                '?' => re.push('.'),
                c => re.push_str(&regex::escape(&c.to_string())),
            }
        }
        re.push('$');
        regex::Regex::new(&re).unwrap().is_match(t)
    }

    #[test]
    fn examples() {
        assert!(glob_match("issues.*", "issues.opened"));
        assert!(glob_match("issues.*", "issues."));
        assert!(!glob_match("issues.*", "issues"));
        assert!(!glob_match("issues.*", "issue_comment.created"));
        assert!(glob_match("*", ""));
        assert!(glob_match("*.created", "issue_comment.created"));
        assert!(glob_match("jira:issue_*", "jira:issue_updated"));
        assert!(glob_match("message.?m", "message.im"));
        assert!(!glob_match("message.?m", "message.mpim"));
        assert!(glob_match("a*b*c", "a.x.b.y.c"));
        assert!(!glob_match("a*b*c", "a.x.b.y.d"));
        assert!(glob_match("é?", "éé"));
        // A pathological pattern finishes at once rather than backtracking.
        let text = "a".repeat(5000);
        assert!(!glob_match(&format!("{}b", "*a".repeat(200)), &text));
    }

    #[test]
    fn trigger_kinds() {
        assert_eq!(Trigger::new("*"), Trigger::Any);
        assert_eq!(Trigger::new("**"), Trigger::Any);
        assert_eq!(
            Trigger::new("issues.opened"),
            Trigger::Exact("issues.opened".into())
        );
        assert!(Trigger::new("issues.*").matches("issues.closed"));
        assert!(!Trigger::new("issues.opened").matches("issues.opened2"));
    }

    proptest! {
        #[test]
        fn agrees_with_references(p in "[ab.*?]{0,10}", t in "[ab.]{0,12}") {
            let pc: Vec<char> = p.chars().collect();
            let tc: Vec<char> = t.chars().collect();
            let got = glob_match(&p, &t);
            prop_assert_eq!(got, naive(&pc, &tc));
            prop_assert_eq!(got, via_regex(&p, &t));
            prop_assert_eq!(Trigger::new(&p).matches(&t), got);
        }

        #[test]
        fn agrees_on_unicode(p in "[aé.*?]{0,8}", t in "[aé.]{0,10}") {
            prop_assert_eq!(glob_match(&p, &t), via_regex(&p, &t));
        }

        #[test]
        fn literal_matches_only_itself(p in "[a-z_.:]{0,12}", t in "[a-z_.:]{0,12}") {
            prop_assert!(glob_match(&p, &p));
            prop_assert_eq!(glob_match(&p, &t), p == t);
        }

        #[test]
        fn star_matches_everything(t in ".{0,40}") {
            prop_assert!(glob_match("*", &t));
            prop_assert!(Trigger::new("*").matches(&t));
        }

        #[test]
        fn prefix_star(prefix in "[a-z_]{1,8}", t in "[a-z_.]{0,16}") {
            let p = format!("{prefix}.*");
            prop_assert_eq!(glob_match(&p, &t), t.starts_with(&format!("{prefix}.")));
        }
    }
}
