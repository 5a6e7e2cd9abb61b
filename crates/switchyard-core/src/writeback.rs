//! Write-backs: the HTTP request that posts a comment (or a question) on the thread
//! an event came from, through the provider's own API. Everything here is pure — a
//! `Target` and a text go in, an `ApiRequest` comes out — so every provider's exact
//! URL, headers and body are unit-tested without a network; the delivery engine sends
//! the request and hands the answer to `check_response`.
//!
//! The thread is the event's `thread_key`, written by the providers in
//! `switchyard-core` (`github:{owner}/{repo}#{n}`, `gitlab:{project}#{iid}` or
//! `!{iid}`, `jira:{KEY}`, `slack:{channel}:{ts}`, `linear:{issueId}`). A key is
//! checked before any of it reaches a URL, so a crafted key cannot change the path.
//! Every `BuildError` is permanent: retrying cannot make a missing token appear.

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use http::Method;
use serde_json::{json, Value};

/// Where a write-back goes: the event's provider, thread, subject and (Slack) the
/// `response_url` of its payload.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub provider: &'a str,
    pub thread_key: Option<&'a str>,
    pub subject: Option<&'a str>,
    pub response_url: Option<&'a str>,
}

/// The token a webhook writes back with.
#[derive(Clone)]
pub struct Credentials {
    pub token: String,
    /// Jira: the account e-mail for Basic auth
    pub user: Option<String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("token", &"[redacted]")
            .field("user", &self.user)
            .finish()
    }
}

/// The API base URL of each provider, without a trailing slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiBases {
    /// `https://api.github.com`; GitHub Enterprise Server is `https://HOST/api/v3`.
    pub github: String,
    /// `https://gitlab.com` (the `/api/v4` is added per request).
    pub gitlab: String,
    /// `None`: no server-wide site. A webhook then names its own (`api_base_url`),
    /// or lists the hosts it trusts (`api_hosts`) so the event's own site
    /// (`issue.self`) may be used — never a host the operator did not name, since a
    /// payload choosing where the token goes would hand it to anyone.
    pub jira: Option<String>,
    /// `https://slack.com/api`
    pub slack: String,
    /// `https://api.linear.app`
    pub linear: String,
}

impl Default for ApiBases {
    fn default() -> Self {
        ApiBases {
            github: "https://api.github.com".to_owned(),
            gitlab: "https://gitlab.com".to_owned(),
            jira: None,
            slack: "https://slack.com/api".to_owned(),
            linear: "https://api.linear.app".to_owned(),
        }
    }
}

impl ApiBases {
    pub const GITHUB_ENV: &'static str = "SWITCHYARD_GITHUB_API_URL";
    pub const GITLAB_ENV: &'static str = "SWITCHYARD_GITLAB_API_URL";
    pub const JIRA_ENV: &'static str = "SWITCHYARD_JIRA_API_URL";
    pub const SLACK_ENV: &'static str = "SWITCHYARD_SLACK_API_URL";
    pub const LINEAR_ENV: &'static str = "SWITCHYARD_LINEAR_API_URL";

    /// The defaults, each replaced by its environment variable when that is set and
    /// not blank. `get` is `|k| std::env::var(k).ok()` in production.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Self {
        let get = |k: &str| get(k).and_then(|v| clean_base(&v));
        let d = ApiBases::default();
        ApiBases {
            github: get(Self::GITHUB_ENV).unwrap_or(d.github),
            gitlab: get(Self::GITLAB_ENV).unwrap_or(d.gitlab),
            jira: get(Self::JIRA_ENV).or(d.jira),
            slack: get(Self::SLACK_ENV).unwrap_or(d.slack),
            linear: get(Self::LINEAR_ENV).unwrap_or(d.linear),
        }
    }

    /// `from_lookup` on the process environment.
    pub fn from_env() -> Self {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// The base for a provider, with a per-webhook override (config field
    /// `api_base_url`) winning. Jira without a configured base may use the site the
    /// event's subject names, but only when that site's host is one the webhook's
    /// operator listed (`allowed_hosts`, the webhook's `api_hosts`): a credential
    /// only ever goes where the operator said. `None` for a provider without a
    /// write-back API, or for Jira with no base it may use.
    pub fn for_provider(
        &self,
        provider: &str,
        override_: Option<&str>,
        subject: Option<&str>,
        allowed_hosts: &[String],
    ) -> Option<String> {
        if let Some(base) = override_.and_then(clean_base) {
            return Some(base);
        }
        match provider {
            "github" => Some(self.github.clone()),
            "gitlab" => Some(self.gitlab.clone()),
            "jira" => self.jira.clone().or_else(|| {
                subject
                    .and_then(jira_base_from_subject)
                    .filter(|(_, host)| {
                        allowed_hosts
                            .iter()
                            .any(|h| h.trim().eq_ignore_ascii_case(host))
                    })
                    .map(|(base, _)| base)
            }),
            "slack" => Some(self.slack.clone()),
            "linear" => Some(self.linear.clone()),
            _ => None,
        }
    }
}

/// A base URL without surrounding blanks and trailing slashes; `None` when empty.
fn clean_base(s: &str) -> Option<String> {
    let s = s.trim().trim_end_matches('/');
    (!s.is_empty()).then(|| s.to_owned())
}

/// The site a Jira `issue.self` URL belongs to, and its host: everything before
/// `/rest/api/`, so a Data Center context path (`https://host/jira/rest/api/2/issue/1`)
/// is kept; else the URL's origin.
fn jira_base_from_subject(subject: &str) -> Option<(String, String)> {
    let uri: http::Uri = subject.trim().parse().ok()?;
    let scheme = uri
        .scheme_str()
        .filter(|s| matches!(*s, "http" | "https"))?;
    let authority = uri.authority()?.as_str();
    // A subject with credentials in it is not a site to send ours to.
    if authority.contains('@') || authority.is_empty() {
        return None;
    }
    let host = uri.host()?.to_owned();
    let path = uri.path();
    let context = path.find("/rest/api/").map_or("", |i| &path[..i]);
    Some((
        format!("{scheme}://{authority}{}", context.trim_end_matches('/')),
        host,
    ))
}

/// One HTTP request for the engine to send as is.
#[derive(Clone, PartialEq)]
pub struct ApiRequest {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl ApiRequest {
    /// The value of the first header with this name (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Credentials stay out of logs: `Authorization` and `PRIVATE-TOKEN` print redacted.
impl fmt::Debug for ApiRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(k, v)| {
                let secret = k.eq_ignore_ascii_case("authorization")
                    || k.eq_ignore_ascii_case("private-token");
                (k.as_str(), if secret { "[redacted]" } else { v.as_str() })
            })
            .collect();
        f.debug_struct("ApiRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &headers)
            .field("body", &String::from_utf8_lossy(&self.body))
            .finish()
    }
}

/// Why no request could be built. All are permanent: the engine dead-letters the
/// write-back at once with this message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    #[error("provider `{0}` has no write-back API")]
    Unsupported(String),
    /// No thread key (and, for Slack, no `response_url` either).
    #[error("the event has no thread to write back to")]
    NoThread,
    #[error("no credentials to write back to {0}: set the webhook's write-back token")]
    NoCredentials(String),
    #[error("the {0} write-back credentials do not fit in an HTTP header")]
    InvalidCredentials(String),
    #[error("thread key `{key}` is malformed: {why}")]
    MalformedThread { key: String, why: &'static str },
    #[error("thread `{key}` cannot take a write-back: {why}")]
    UnsupportedThread { key: String, why: &'static str },
    /// Jira's site comes from the webhook, the environment, or the event's subject
    /// when its host is one the webhook lists; otherwise there is nowhere to go.
    #[error("no API base URL for {0}: set the webhook's api_base_url (for Jira, SWITCHYARD_JIRA_API_URL, or list the site's host in the webhook's api_hosts)")]
    NoBase(String),
    #[error("`{0}` is not an http(s) URL")]
    InvalidUrl(String),
}

/// The providers whose threads Switchyard can post on (`comment`, `ask`,
/// `respond`); for the others a reply has nowhere to go.
pub const CAN_POST: [&str; 5] = ["github", "gitlab", "jira", "linear", "slack"];

/// Whether `provider` has a channel Switchyard can post replies on.
pub fn can_post(provider: &str) -> bool {
    CAN_POST.contains(&provider)
}

/// Builds the request that posts `text` on the target's thread. `base` is
/// `ApiBases::for_provider` for the target (unused by Slack's `response_url`).
pub fn build(
    target: &Target<'_>,
    text: &str,
    creds: Option<&Credentials>,
    base: Option<&str>,
) -> Result<ApiRequest, BuildError> {
    // An empty token is a token nobody configured.
    let creds = creds.filter(|c| !c.token.trim().is_empty());
    let provider = target.provider;
    let req = match provider {
        "github" | "gitlab" | "jira" | "linear" => {
            let key = target.thread_key.ok_or(BuildError::NoThread)?;
            let creds = creds.ok_or_else(|| BuildError::NoCredentials(provider.to_owned()))?;
            let base = base
                .and_then(clean_base)
                .ok_or_else(|| BuildError::NoBase(provider.to_owned()))?;
            check_url(&base)?;
            match provider {
                "github" => github(key, target.subject, text, creds, &base)?,
                "gitlab" => gitlab(key, text, creds, &base)?,
                "jira" => jira(key, text, creds, &base)?,
                _ => linear(key, text, creds, &base)?,
            }
        }
        "slack" => slack(target, text, creds, base)?,
        other => return Err(BuildError::Unsupported(other.to_owned())),
    };
    // A token with a line break would otherwise fail later, inside the HTTP client,
    // as a transient-looking send error.
    if req
        .headers
        .iter()
        .any(|(_, v)| http::HeaderValue::from_str(v).is_err())
    {
        return Err(BuildError::InvalidCredentials(provider.to_owned()));
    }
    Ok(req)
}

const USER_AGENT: &str = concat!("switchyard/", env!("CARGO_PKG_VERSION"));

fn header(k: &str, v: impl Into<String>) -> (String, String) {
    (k.to_owned(), v.into())
}

fn post(url: String, headers: Vec<(String, String)>, body: &Value) -> ApiRequest {
    ApiRequest {
        method: Method::POST,
        url,
        headers,
        // `Value`'s `Display` is its compact JSON and cannot fail.
        body: body.to_string().into_bytes(),
    }
}

fn check_url(url: &str) -> Result<(), BuildError> {
    let ok = url
        .parse::<http::Uri>()
        .is_ok_and(|u| matches!(u.scheme_str(), Some("http" | "https")) && u.authority().is_some());
    if ok {
        Ok(())
    } else {
        Err(BuildError::InvalidUrl(url.to_owned()))
    }
}

fn malformed(key: &str, why: &'static str) -> BuildError {
    BuildError::MalformedThread {
        key: key.to_owned(),
        why,
    }
}

/// The part of `key` after `{provider}:`.
fn strip_provider<'k>(key: &'k str, prefix: &str) -> Result<&'k str, BuildError> {
    key.strip_prefix(prefix)
        .filter(|rest| !rest.is_empty())
        .ok_or_else(|| malformed(key, "it does not start with the provider's prefix"))
}

/// A positive decimal number as GitHub and GitLab write it.
fn number(key: &str, s: &str) -> Result<u64, BuildError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed(
            key,
            "the number after `#` or `!` is not a number",
        ));
    }
    s.parse::<u64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| malformed(key, "the number after `#` or `!` is out of range"))
}

/// GitHub: `POST /repos/{owner}/{repo}/issues/{issue_number}/comments`, which takes
/// pull requests too (a pull request is an issue).
/// <https://docs.github.com/en/rest/issues/comments#create-an-issue-comment>
fn github(
    key: &str,
    subject: Option<&str>,
    text: &str,
    creds: &Credentials,
    base: &str,
) -> Result<ApiRequest, BuildError> {
    let rest = strip_provider(key, "github:")?;
    let (repo, num) = rest
        .rsplit_once('#')
        .ok_or_else(|| malformed(key, "expected `github:{owner}/{repo}#{number}`"))?;
    let (owner, name) = repo
        .split_once('/')
        .ok_or_else(|| malformed(key, "expected `github:{owner}/{repo}#{number}`"))?;
    // GitHub's names are ASCII letters, digits, `-`, `_` and `.`; anything else (a
    // second `/`, `..`, `?`) would change the URL.
    let name_ok = |s: &str| {
        !s.is_empty()
            && s != "."
            && s != ".."
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    };
    if !name_ok(owner) || !name_ok(name) {
        return Err(malformed(
            key,
            "the owner or repository name is not a GitHub name",
        ));
    }
    let n = number(key, num)?;
    // Discussions share the `#n` numbering in thread keys but have no REST comment
    // endpoint (GraphQL `addDiscussionComment` only); posting to issues/{n} would
    // land on an unrelated issue.
    if subject.is_some_and(|s| s.contains("/discussions/")) {
        return Err(BuildError::UnsupportedThread {
            key: key.to_owned(),
            why: "GitHub discussions have no REST comment API",
        });
    }
    Ok(post(
        format!("{base}/repos/{owner}/{name}/issues/{n}/comments"),
        vec![
            header("Authorization", format!("Bearer {}", creds.token)),
            header("Accept", "application/vnd.github+json"),
            header("X-GitHub-Api-Version", "2022-11-28"),
            header("Content-Type", "application/json"),
            // GitHub refuses requests without a User-Agent.
            header("User-Agent", USER_AGENT),
        ],
        &json!({ "body": text }),
    ))
}

/// GitLab: `POST /projects/:id/issues/:issue_iid/notes` and
/// `POST /projects/:id/merge_requests/:merge_request_iid/notes`, with the project
/// as its URL-encoded path (`group%2Fsub%2Fproject`).
/// <https://docs.gitlab.com/api/notes/#create-new-issue-note>,
/// <https://docs.gitlab.com/api/rest/#namespaced-paths>
fn gitlab(
    key: &str,
    text: &str,
    creds: &Credentials,
    base: &str,
) -> Result<ApiRequest, BuildError> {
    let rest = strip_provider(key, "gitlab:")?;
    // Project paths hold neither `#` nor `!`, so the last one is the separator.
    let i = rest
        .rfind(['#', '!'])
        .ok_or_else(|| malformed(key, "expected `gitlab:{project}#{iid}` or `!{iid}`"))?;
    let (project, sep, iid) = (&rest[..i], &rest[i..=i], &rest[i + 1..]);
    if project
        .split('/')
        .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return Err(malformed(
            key,
            "the project path has an empty or dot segment",
        ));
    }
    let iid = number(key, iid)?;
    let kind = if sep == "!" {
        "merge_requests"
    } else {
        "issues"
    };
    // A base configured as `https://host/api/v4` is taken as meant.
    let base = base.strip_suffix("/api/v4").unwrap_or(base);
    Ok(post(
        format!(
            "{base}/api/v4/projects/{}/{kind}/{iid}/notes",
            percent_encode(project)
        ),
        vec![
            header("PRIVATE-TOKEN", creds.token.clone()),
            header("Content-Type", "application/json"),
            header("User-Agent", USER_AGENT),
        ],
        &json!({ "body": text }),
    ))
}

/// Every byte but RFC 3986's unreserved characters, percent-encoded.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Jira Cloud: `POST /rest/api/3/issue/{issueIdOrKey}/comment` with the body in the
/// Atlassian Document Format. An API token goes with the account e-mail as Basic
/// auth; without a user the token is sent as a Bearer token (OAuth, or a Data
/// Center personal access token).
/// <https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-comments/#api-rest-api-3-issue-issueidorkey-comment-post>,
/// <https://developer.atlassian.com/cloud/jira/platform/basic-auth-for-rest-apis/>
fn jira(key: &str, text: &str, creds: &Credentials, base: &str) -> Result<ApiRequest, BuildError> {
    let issue = strip_provider(key, "jira:")?;
    // Issue keys are `PROJECT-123`: a project key of letters, digits and `_`
    // starting with a letter, then the issue's number.
    let valid = issue.split_once('-').is_some_and(|(project, n)| {
        project.starts_with(|c: char| c.is_ascii_alphabetic())
            && project
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
            && !n.is_empty()
            && n.bytes().all(|b| b.is_ascii_digit())
    });
    if !valid {
        return Err(malformed(key, "expected `jira:{PROJECT}-{number}`"));
    }
    let auth = match creds.user.as_deref().filter(|u| !u.is_empty()) {
        Some(user) => format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{}", creds.token))
        ),
        None => format!("Bearer {}", creds.token),
    };
    Ok(post(
        format!("{base}/rest/api/3/issue/{issue}/comment"),
        vec![
            header("Authorization", auth),
            header("Accept", "application/json"),
            header("Content-Type", "application/json"),
            header("User-Agent", USER_AGENT),
        ],
        &json!({ "body": adf(text) }),
    ))
}

/// Plain text as an ADF document: blank lines separate paragraphs, single line
/// breaks become `hardBreak`s. ADF refuses empty text nodes, so blank lines make no
/// nodes at all, and an empty text is one empty paragraph.
/// <https://developer.atlassian.com/cloud/jira/platform/apis/document/structure/>
fn adf(text: &str) -> Value {
    let mut paragraphs: Vec<Vec<Value>> = Vec::new();
    let mut current: Vec<Value> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !current.is_empty() {
                paragraphs.push(std::mem::take(&mut current));
            }
            continue;
        }
        if !current.is_empty() {
            current.push(json!({ "type": "hardBreak" }));
        }
        current.push(json!({ "type": "text", "text": line }));
    }
    if !current.is_empty() {
        paragraphs.push(current);
    }
    if paragraphs.is_empty() {
        paragraphs.push(Vec::new());
    }
    let content: Vec<Value> = paragraphs
        .into_iter()
        .map(|content| json!({ "type": "paragraph", "content": content }))
        .collect();
    json!({ "type": "doc", "version": 1, "content": content })
}

/// Slack: with a bot token and a thread, `chat.postMessage` into the thread;
/// otherwise the payload's `response_url` (slash commands and interactions), which
/// needs no token.
/// <https://api.slack.com/methods/chat.postMessage>,
/// <https://api.slack.com/interactivity/handling#message_responses>
fn slack(
    target: &Target<'_>,
    text: &str,
    creds: Option<&Credentials>,
    base: Option<&str>,
) -> Result<ApiRequest, BuildError> {
    if let (Some(creds), Some(key)) = (creds, target.thread_key) {
        let rest = strip_provider(key, "slack:")?;
        let (channel, ts) = rest
            .split_once(':')
            .filter(|(c, t)| !c.is_empty() && !t.is_empty())
            .ok_or_else(|| malformed(key, "expected `slack:{channel}:{thread_ts}`"))?;
        let base = base
            .and_then(clean_base)
            .ok_or_else(|| BuildError::NoBase("slack".to_owned()))?;
        check_url(&base)?;
        return Ok(post(
            format!("{base}/chat.postMessage"),
            vec![
                header("Authorization", format!("Bearer {}", creds.token)),
                header("Content-Type", "application/json; charset=utf-8"),
                header("User-Agent", USER_AGENT),
            ],
            &json!({ "channel": channel, "text": text, "thread_ts": ts }),
        ));
    }
    if let Some(url) = target.response_url.map(str::trim).filter(|u| !u.is_empty()) {
        check_url(url)?;
        return Ok(post(
            url.to_owned(),
            vec![
                header("Content-Type", "application/json"),
                header("User-Agent", USER_AGENT),
            ],
            &json!({ "text": text, "response_type": "in_channel", "replace_original": false }),
        ));
    }
    match target.thread_key {
        // A thread but no token, and nothing to reply through without one.
        Some(_) => Err(BuildError::NoCredentials("slack".to_owned())),
        None => Err(BuildError::NoThread),
    }
}

const LINEAR_COMMENT: &str = "mutation CommentCreate($input: CommentCreateInput!) { commentCreate(input: $input) { success comment { id } } }";

/// Linear: the GraphQL `commentCreate` mutation. A personal API key (`lin_api_…`)
/// is sent as the whole `Authorization` header, an OAuth token as `Bearer`.
/// <https://linear.app/developers/graphql>
fn linear(
    key: &str,
    text: &str,
    creds: &Credentials,
    base: &str,
) -> Result<ApiRequest, BuildError> {
    let issue = strip_provider(key, "linear:")?;
    if issue.trim() != issue {
        return Err(malformed(key, "the issue id has surrounding blanks"));
    }
    let auth = if creds.token.starts_with("lin_api_") {
        creds.token.clone()
    } else {
        format!("Bearer {}", creds.token)
    };
    Ok(post(
        format!("{base}/graphql"),
        vec![
            header("Authorization", auth),
            header("Content-Type", "application/json"),
            header("User-Agent", USER_AGENT),
        ],
        &json!({
            "query": LINEAR_COMMENT,
            "variables": { "input": { "issueId": issue, "body": text } },
        }),
    ))
}

/// Finds the refusals some providers send with a 2xx status: Slack's
/// `{"ok": false, "error": …}` and Linear's GraphQL `errors` or
/// `commentCreate.success == false`. `Err` carries the provider's message. Only
/// 2xx bodies are read; a non-2xx status is the caller's to judge (and is `Ok`
/// here), as is everything from the other providers.
pub fn check_response(provider: &str, status: u16, body: &[u8]) -> Result<(), String> {
    if !(200..300).contains(&status) {
        return Ok(());
    }
    // A body that is not JSON carries no refusal: a `response_url` answers `ok`.
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return Ok(());
    };
    match provider {
        "slack" => {
            if v.get("ok").and_then(Value::as_bool) != Some(false) {
                return Ok(());
            }
            let error = v
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("ok: false");
            let details: Vec<&str> = v
                .pointer("/response_metadata/messages")
                .and_then(Value::as_array)
                .map(|m| m.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if details.is_empty() {
                Err(format!("slack: {error}"))
            } else {
                Err(format!("slack: {error} ({})", details.join("; ")))
            }
        }
        "linear" => {
            if let Some(errors) = v
                .get("errors")
                .and_then(Value::as_array)
                .filter(|e| !e.is_empty())
            {
                let messages: Vec<String> = errors
                    .iter()
                    .map(|e| match e.get("message").and_then(Value::as_str) {
                        Some(m) => m.to_owned(),
                        None => e.to_string(),
                    })
                    .collect();
                return Err(format!("linear: {}", messages.join("; ")));
            }
            if v.pointer("/data/commentCreate/success")
                .and_then(Value::as_bool)
                == Some(false)
            {
                return Err("linear: commentCreate.success is false".to_owned());
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// `Retry-After` as a receiver sends it: seconds, or an HTTP date (a date in the
/// past means now). `None` when it is neither.
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc2822).ok()?;
    let now = time::OffsetDateTime::now_utc();
    let d = at - now;
    Some(if d.is_negative() {
        Duration::ZERO
    } else {
        Duration::from_secs_f64(d.as_seconds_f64())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        assert_eq!(parse_retry_after("120"), Some(Duration::from_secs(120)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO),
            "a date in the past means now"
        );
        let future = time::OffsetDateTime::now_utc() + time::Duration::seconds(90);
        let s = future
            .format(&time::format_description::well_known::Rfc2822)
            .unwrap();
        let d = parse_retry_after(&s).unwrap();
        assert!(
            d > Duration::from_secs(80) && d <= Duration::from_secs(90),
            "{d:?}"
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    fn creds(token: &str) -> Credentials {
        Credentials {
            token: token.to_owned(),
            user: None,
        }
    }

    fn target<'a>(provider: &'a str, key: Option<&'a str>) -> Target<'a> {
        Target {
            provider,
            thread_key: key,
            subject: None,
            response_url: None,
        }
    }

    fn json_body(r: &ApiRequest) -> Value {
        serde_json::from_slice(&r.body).expect("body is JSON")
    }

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    const UA: &str = concat!("switchyard/", env!("CARGO_PKG_VERSION"));

    // --- GitHub ---

    #[test]
    fn github_posts_an_issue_comment() {
        let r = build(
            &target("github", Some("github:octo-org/hello.world#42")),
            "Looks good",
            Some(&creds("ghp_abc")),
            Some("https://api.github.com"),
        )
        .unwrap();
        assert_eq!(
            r,
            ApiRequest {
                method: Method::POST,
                url: "https://api.github.com/repos/octo-org/hello.world/issues/42/comments".into(),
                headers: headers(&[
                    ("Authorization", "Bearer ghp_abc"),
                    ("Accept", "application/vnd.github+json"),
                    ("X-GitHub-Api-Version", "2022-11-28"),
                    ("Content-Type", "application/json"),
                    ("User-Agent", UA),
                ]),
                body: br#"{"body":"Looks good"}"#.to_vec(),
            }
        );
    }

    #[test]
    fn github_enterprise_base_with_trailing_slash() {
        let r = build(
            &target("github", Some("github:o/r#7")),
            "hi",
            Some(&creds("t")),
            Some("https://ghe.example.com/api/v3/"),
        )
        .unwrap();
        assert_eq!(
            r.url,
            "https://ghe.example.com/api/v3/repos/o/r/issues/7/comments"
        );
    }

    #[test]
    fn github_refuses_malformed_thread_keys() {
        for key in [
            "github:nohash",
            "github:o/r#abc",
            "github:o/r#",
            "github:o/r#0",
            "github:o/r#-1",
            "github:o/r#+1",
            "github:o/r#99999999999999999999999",
            "github:o#1",
            "github:/r#1",
            "github:o/#1",
            "github:o/r/x#1",
            "github:../r#1",
            "github:o/..#1",
            "github:o/r?x=1#1",
            "github:o/r#1#2",
            "github:",
            "gitlab:o/r#1",
            "o/r#1",
        ] {
            let err = build(
                &target("github", Some(key)),
                "x",
                Some(&creds("t")),
                Some("https://api.github.com"),
            )
            .unwrap_err();
            assert!(
                matches!(err, BuildError::MalformedThread { .. }),
                "{key}: {err:?}"
            );
        }
    }

    #[test]
    fn github_discussions_are_refused() {
        let t = Target {
            subject: Some("https://github.com/o/r/discussions/3"),
            ..target("github", Some("github:o/r#3"))
        };
        let err = build(&t, "x", Some(&creds("t")), Some("https://api.github.com")).unwrap_err();
        assert!(
            matches!(err, BuildError::UnsupportedThread { .. }),
            "{err:?}"
        );
        // An issue's subject is fine.
        let t = Target {
            subject: Some("https://github.com/o/r/issues/3"),
            ..t
        };
        assert!(build(&t, "x", Some(&creds("t")), Some("https://api.github.com")).is_ok());
    }

    #[test]
    fn token_providers_need_a_thread_credentials_and_a_base() {
        for (provider, key) in [
            ("github", "github:o/r#1"),
            ("gitlab", "gitlab:g/p#1"),
            ("jira", "jira:OPS-1"),
            ("linear", "linear:abc"),
        ] {
            let base = Some("https://api.example.com");
            assert_eq!(
                build(&target(provider, None), "x", Some(&creds("t")), base),
                Err(BuildError::NoThread),
                "{provider}"
            );
            assert_eq!(
                build(&target(provider, Some(key)), "x", None, base),
                Err(BuildError::NoCredentials(provider.to_owned())),
                "{provider}"
            );
            // A blank token is no token.
            assert_eq!(
                build(&target(provider, Some(key)), "x", Some(&creds(" ")), base),
                Err(BuildError::NoCredentials(provider.to_owned())),
                "{provider}"
            );
            assert_eq!(
                build(&target(provider, Some(key)), "x", Some(&creds("t")), None),
                Err(BuildError::NoBase(provider.to_owned())),
                "{provider}"
            );
            assert_eq!(
                build(
                    &target(provider, Some(key)),
                    "x",
                    Some(&creds("t")),
                    Some("ftp://x")
                ),
                Err(BuildError::InvalidUrl("ftp://x".to_owned())),
                "{provider}"
            );
            assert_eq!(
                build(
                    &target(provider, Some(key)),
                    "x",
                    Some(&creds("a\nb")),
                    base
                ),
                Err(BuildError::InvalidCredentials(provider.to_owned())),
                "{provider}"
            );
        }
    }

    #[test]
    fn other_providers_are_unsupported() {
        for provider in ["stripe", "notion", "sentry", "generic", "GitHub", ""] {
            assert_eq!(
                build(
                    &target(provider, Some("x:1")),
                    "x",
                    Some(&creds("t")),
                    Some("https://x")
                ),
                Err(BuildError::Unsupported(provider.to_owned()))
            );
        }
    }

    // --- GitLab ---

    #[test]
    fn gitlab_issue_note_encodes_nested_project_paths() {
        let r = build(
            &target("gitlab", Some("gitlab:group/sub.team/my_project#23")),
            "Noted",
            Some(&creds("glpat-x")),
            Some("https://gitlab.com"),
        )
        .unwrap();
        assert_eq!(
            r,
            ApiRequest {
                method: Method::POST,
                url: "https://gitlab.com/api/v4/projects/group%2Fsub.team%2Fmy_project/issues/23/notes"
                    .into(),
                headers: headers(&[
                    ("PRIVATE-TOKEN", "glpat-x"),
                    ("Content-Type", "application/json"),
                    ("User-Agent", UA),
                ]),
                body: br#"{"body":"Noted"}"#.to_vec(),
            }
        );
    }

    #[test]
    fn gitlab_merge_request_note() {
        let r = build(
            &target("gitlab", Some("gitlab:g/p!5")),
            "LGTM",
            Some(&creds("t")),
            Some("https://gitlab.example.com/"),
        )
        .unwrap();
        assert_eq!(
            r.url,
            "https://gitlab.example.com/api/v4/projects/g%2Fp/merge_requests/5/notes"
        );
        assert_eq!(json_body(&r), json!({ "body": "LGTM" }));
        // A base that already names the API version is not given a second one.
        let r = build(
            &target("gitlab", Some("gitlab:g/p!5")),
            "LGTM",
            Some(&creds("t")),
            Some("https://gitlab.example.com/api/v4/"),
        )
        .unwrap();
        assert_eq!(
            r.url,
            "https://gitlab.example.com/api/v4/projects/g%2Fp/merge_requests/5/notes"
        );
    }

    #[test]
    fn gitlab_encodes_every_reserved_byte() {
        assert_eq!(percent_encode("a b/c%d?é"), "a%20b%2Fc%25d%3F%C3%A9");
    }

    #[test]
    fn gitlab_refuses_malformed_thread_keys() {
        for key in [
            "gitlab:g/p",
            "gitlab:#5",
            "gitlab:g/p#x",
            "gitlab:g/p!",
            "gitlab:g//p#5",
            "gitlab:..#5",
            "gitlab:g/./p#5",
            "gitlab:/p#5",
            "gitlab:g/p#5!",
            "github:g/p#5",
        ] {
            let err = build(
                &target("gitlab", Some(key)),
                "x",
                Some(&creds("t")),
                Some("https://gitlab.com"),
            )
            .unwrap_err();
            assert!(
                matches!(err, BuildError::MalformedThread { .. }),
                "{key}: {err:?}"
            );
        }
    }

    // --- Jira ---

    #[test]
    fn jira_basic_auth_with_adf_body() {
        let c = Credentials {
            token: "api-token".into(),
            user: Some("bot@example.com".into()),
        };
        let r = build(
            &target("jira", Some("jira:OPS-7")),
            "Deployed.",
            Some(&c),
            Some("https://example.atlassian.net"),
        )
        .unwrap();
        assert_eq!(r.method, Method::POST);
        assert_eq!(
            r.url,
            "https://example.atlassian.net/rest/api/3/issue/OPS-7/comment"
        );
        // base64("bot@example.com:api-token"), computed independently.
        assert_eq!(
            r.headers,
            headers(&[
                (
                    "Authorization",
                    "Basic Ym90QGV4YW1wbGUuY29tOmFwaS10b2tlbg=="
                ),
                ("Accept", "application/json"),
                ("Content-Type", "application/json"),
                ("User-Agent", UA),
            ])
        );
        assert_eq!(
            json_body(&r),
            json!({"body": {"type": "doc", "version": 1, "content": [
                {"type": "paragraph", "content": [{"type": "text", "text": "Deployed."}]}
            ]}})
        );
    }

    #[test]
    fn jira_bearer_without_user() {
        let r = build(
            &target("jira", Some("jira:AB_C2-10")),
            "x",
            Some(&creds("pat")),
            Some("https://jira.example.com/jira/"),
        )
        .unwrap();
        assert_eq!(r.header("authorization"), Some("Bearer pat"));
        assert_eq!(
            r.url,
            "https://jira.example.com/jira/rest/api/3/issue/AB_C2-10/comment"
        );
    }

    #[test]
    fn jira_refuses_malformed_keys() {
        for key in [
            "jira:",
            "jira:OPS",
            "jira:OPS-",
            "jira:OPS-x",
            "jira:-1",
            "jira:1OPS-1",
            "jira:OPS-1/../x",
            "jira:OPS 1-2",
            "jira:OPS-1?x",
        ] {
            let err = build(
                &target("jira", Some(key)),
                "x",
                Some(&creds("t")),
                Some("https://x.atlassian.net"),
            )
            .unwrap_err();
            assert!(
                matches!(err, BuildError::MalformedThread { .. }),
                "{key}: {err:?}"
            );
        }
    }

    #[test]
    fn jira_adf_paragraphs_and_line_breaks() {
        let doc = adf("First line\r\nsecond line\n\n  \n\nNew paragraph\n");
        assert_eq!(
            doc,
            json!({"type": "doc", "version": 1, "content": [
                {"type": "paragraph", "content": [
                    {"type": "text", "text": "First line"},
                    {"type": "hardBreak"},
                    {"type": "text", "text": "second line"},
                ]},
                {"type": "paragraph", "content": [{"type": "text", "text": "New paragraph"}]},
            ]})
        );
        // No empty text nodes, ever: an empty or blank text is one empty paragraph.
        for blank in ["", "\n\n", "   \n\t"] {
            assert_eq!(
                adf(blank),
                json!({"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": []}]}),
                "{blank:?}"
            );
        }
    }

    // --- Slack ---

    #[test]
    fn slack_posts_into_the_thread_with_a_token() {
        let t = Target {
            response_url: Some("https://hooks.slack.com/commands/1/2"),
            ..target("slack", Some("slack:C024BE91L:1712345678.000200"))
        };
        let r = build(
            &t,
            "On it",
            Some(&creds("xoxb-1")),
            Some("https://slack.com/api/"),
        )
        .unwrap();
        assert_eq!(
            r,
            ApiRequest {
                method: Method::POST,
                url: "https://slack.com/api/chat.postMessage".into(),
                headers: headers(&[
                    ("Authorization", "Bearer xoxb-1"),
                    ("Content-Type", "application/json; charset=utf-8"),
                    ("User-Agent", UA),
                ]),
                body: json!({"channel": "C024BE91L", "text": "On it", "thread_ts": "1712345678.000200"})
                    .to_string()
                    .into_bytes(),
            }
        );
        assert_eq!(
            json_body(&r),
            json!({"channel": "C024BE91L", "text": "On it", "thread_ts": "1712345678.000200"})
        );
    }

    #[test]
    fn slack_falls_back_to_the_response_url() {
        let url = "https://hooks.slack.com/commands/T1/397700885554/96rGlfmibIGlgcZRskXaIFfN";
        let expected = ApiRequest {
            method: Method::POST,
            url: url.into(),
            headers: headers(&[("Content-Type", "application/json"), ("User-Agent", UA)]),
            body: json!({"text": "Done", "response_type": "in_channel", "replace_original": false})
                .to_string()
                .into_bytes(),
        };
        // Without a token, even with a thread.
        let t = Target {
            response_url: Some(url),
            ..target("slack", Some("slack:C1:1.2"))
        };
        assert_eq!(
            build(&t, "Done", None, Some("https://slack.com/api")),
            Ok(expected.clone())
        );
        // With a token but without a thread (a slash command has none).
        let t = Target {
            response_url: Some(url),
            ..target("slack", None)
        };
        assert_eq!(build(&t, "Done", Some(&creds("xoxb")), None), Ok(expected));
        assert_eq!(
            json_body(&build(&t, "Done", None, None).unwrap())["replace_original"],
            json!(false)
        );
        let t = Target {
            response_url: Some("not a url"),
            ..target("slack", None)
        };
        assert_eq!(
            build(&t, "Done", None, None),
            Err(BuildError::InvalidUrl("not a url".into()))
        );
    }

    #[test]
    fn slack_without_a_way_to_reply() {
        assert_eq!(
            build(
                &target("slack", None),
                "x",
                Some(&creds("xoxb")),
                Some("https://slack.com/api")
            ),
            Err(BuildError::NoThread)
        );
        assert_eq!(
            build(
                &target("slack", Some("slack:C1:1.2")),
                "x",
                None,
                Some("https://slack.com/api")
            ),
            Err(BuildError::NoCredentials("slack".into()))
        );
        for key in ["slack:C1", "slack::1.2", "slack:C1:", "github:o/r#1"] {
            let err = build(
                &target("slack", Some(key)),
                "x",
                Some(&creds("xoxb")),
                Some("https://slack.com/api"),
            )
            .unwrap_err();
            assert!(
                matches!(err, BuildError::MalformedThread { .. }),
                "{key}: {err:?}"
            );
        }
        assert_eq!(
            build(
                &target("slack", Some("slack:C1:1.2")),
                "x",
                Some(&creds("xoxb")),
                None
            ),
            Err(BuildError::NoBase("slack".into()))
        );
    }

    // --- Linear ---

    #[test]
    fn linear_comment_with_a_personal_api_key() {
        let r = build(
            &target(
                "linear",
                Some("linear:8f5a7c52-1234-4d4e-9b0a-2f7d4e1a0c11"),
            ),
            "Fixed in #12",
            Some(&creds("lin_api_xyz")),
            Some("https://api.linear.app"),
        )
        .unwrap();
        assert_eq!(r.method, Method::POST);
        assert_eq!(r.url, "https://api.linear.app/graphql");
        assert_eq!(
            r.headers,
            headers(&[
                ("Authorization", "lin_api_xyz"),
                ("Content-Type", "application/json"),
                ("User-Agent", UA),
            ])
        );
        assert_eq!(
            json_body(&r),
            json!({
                "query": "mutation CommentCreate($input: CommentCreateInput!) { commentCreate(input: $input) { success comment { id } } }",
                "variables": {"input": {
                    "issueId": "8f5a7c52-1234-4d4e-9b0a-2f7d4e1a0c11",
                    "body": "Fixed in #12",
                }},
            })
        );
    }

    #[test]
    fn linear_oauth_token_is_a_bearer() {
        let r = build(
            &target("linear", Some("linear:abc")),
            "x",
            Some(&creds("oauth-token")),
            Some("https://linear.test/"),
        )
        .unwrap();
        assert_eq!(r.header("Authorization"), Some("Bearer oauth-token"));
        assert_eq!(r.url, "https://linear.test/graphql");
        for key in ["linear:", "linear: abc", "jira:OPS-1"] {
            assert!(
                matches!(
                    build(
                        &target("linear", Some(key)),
                        "x",
                        Some(&creds("t")),
                        Some("https://x")
                    ),
                    Err(BuildError::MalformedThread { .. })
                ),
                "{key}"
            );
        }
    }

    // --- Bases ---

    #[test]
    fn api_bases_defaults_and_environment() {
        let d = ApiBases::default();
        assert_eq!(d.github, "https://api.github.com");
        assert_eq!(d.gitlab, "https://gitlab.com");
        assert_eq!(d.jira, None);
        assert_eq!(d.slack, "https://slack.com/api");
        assert_eq!(d.linear, "https://api.linear.app");
        assert_eq!(ApiBases::from_lookup(|_| None), d);

        let b = ApiBases::from_lookup(|k| {
            match k {
                "SWITCHYARD_GITHUB_API_URL" => Some("http://127.0.0.1:9/gh/"),
                "SWITCHYARD_GITLAB_API_URL" => Some("http://127.0.0.1:9/gl"),
                "SWITCHYARD_JIRA_API_URL" => Some("http://127.0.0.1:9/jira//"),
                "SWITCHYARD_SLACK_API_URL" => Some("  "),
                "SWITCHYARD_LINEAR_API_URL" => Some("http://127.0.0.1:9/linear"),
                _ => None,
            }
            .map(str::to_owned)
        });
        assert_eq!(
            b,
            ApiBases {
                github: "http://127.0.0.1:9/gh".into(),
                gitlab: "http://127.0.0.1:9/gl".into(),
                jira: Some("http://127.0.0.1:9/jira".into()),
                // A blank variable is an unset one.
                slack: "https://slack.com/api".into(),
                linear: "http://127.0.0.1:9/linear".into(),
            }
        );
    }

    #[test]
    fn for_provider_prefers_the_webhook_override() {
        let b = ApiBases::default();
        assert_eq!(
            b.for_provider("github", None, None, &[]).as_deref(),
            Some("https://api.github.com")
        );
        assert_eq!(
            b.for_provider("github", Some("https://ghe.corp/api/v3/"), None, &[])
                .as_deref(),
            Some("https://ghe.corp/api/v3")
        );
        assert_eq!(
            b.for_provider("github", Some(""), None, &[]).as_deref(),
            Some("https://api.github.com")
        );
        assert_eq!(
            b.for_provider("gitlab", None, None, &[]).as_deref(),
            Some("https://gitlab.com")
        );
        assert_eq!(
            b.for_provider("slack", None, None, &[]).as_deref(),
            Some("https://slack.com/api")
        );
        assert_eq!(
            b.for_provider("linear", None, None, &[]).as_deref(),
            Some("https://api.linear.app")
        );
        assert_eq!(b.for_provider("stripe", None, None, &[]), None);
        // An override is an override, whatever the provider.
        assert_eq!(
            b.for_provider("stripe", Some("https://x"), None, &[])
                .as_deref(),
            Some("https://x")
        );
    }

    #[test]
    fn jira_base_comes_from_the_subject_only_for_a_listed_host() {
        let b = ApiBases::default();
        let subject = Some("https://example.atlassian.net/rest/api/2/issue/10002");
        let listed = |h: &[&str]| h.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        // A payload alone never chooses where the token goes.
        assert_eq!(b.for_provider("jira", None, subject, &[]), None);
        assert_eq!(
            b.for_provider("jira", None, subject, &listed(&["other.atlassian.net"])),
            None
        );
        assert_eq!(
            b.for_provider("jira", None, subject, &listed(&["EXAMPLE.atlassian.net"]))
                .as_deref(),
            Some("https://example.atlassian.net")
        );
        // A Data Center context path is kept.
        assert_eq!(
            b.for_provider(
                "jira",
                None,
                Some("http://jira.corp:8080/jira/rest/api/2/issue/1"),
                &listed(&["jira.corp"])
            )
            .as_deref(),
            Some("http://jira.corp:8080/jira")
        );
        assert_eq!(
            b.for_provider(
                "jira",
                None,
                Some("https://jira.corp/browse/OPS-1"),
                &listed(&["jira.corp"])
            )
            .as_deref(),
            Some("https://jira.corp")
        );
        for bad in [
            "OPS-1",
            "",
            "ftp://x/rest/api/2",
            "https://u:p@x.net/rest/api/2/issue/1",
        ] {
            assert_eq!(
                b.for_provider("jira", None, Some(bad), &listed(&["x", "x.net"])),
                None,
                "{bad}"
            );
        }
        assert_eq!(b.for_provider("jira", None, None, &listed(&["x"])), None);
        // The environment's base, then the webhook's, win over the subject.
        let b = ApiBases {
            jira: Some("https://env.atlassian.net".into()),
            ..ApiBases::default()
        };
        assert_eq!(
            b.for_provider("jira", None, subject, &[]).as_deref(),
            Some("https://env.atlassian.net")
        );
        assert_eq!(
            b.for_provider("jira", Some("https://hook.atlassian.net"), subject, &[])
                .as_deref(),
            Some("https://hook.atlassian.net")
        );

        // End to end: an event with only a subject writes back to its own site.
        let t = Target {
            subject,
            ..target("jira", Some("jira:OPS-7"))
        };
        let hosts = ["example.atlassian.net".to_owned()];
        let base = ApiBases::default().for_provider("jira", None, t.subject, &hosts);
        let r = build(&t, "x", Some(&creds("t")), base.as_deref()).unwrap();
        assert_eq!(
            r.url,
            "https://example.atlassian.net/rest/api/3/issue/OPS-7/comment"
        );
        let t = target("jira", Some("jira:OPS-7"));
        let base = ApiBases::default().for_provider("jira", None, t.subject, &hosts);
        let err = build(&t, "x", Some(&creds("t")), base.as_deref()).unwrap_err();
        assert_eq!(err, BuildError::NoBase("jira".into()));
        assert!(err.to_string().contains("api_base_url"), "{err}");
    }

    // --- Responses ---

    #[test]
    fn slack_ok_false_is_an_error() {
        assert_eq!(
            check_response("slack", 200, br#"{"ok":false,"error":"channel_not_found"}"#),
            Err("slack: channel_not_found".into())
        );
        assert_eq!(
            check_response(
                "slack",
                200,
                br#"{"ok":false,"error":"invalid_blocks","response_metadata":{"messages":["[ERROR] bad"]}}"#
            ),
            Err("slack: invalid_blocks ([ERROR] bad)".into())
        );
        assert_eq!(
            check_response("slack", 200, br#"{"ok":false}"#),
            Err("slack: ok: false".into())
        );
        assert_eq!(
            check_response("slack", 200, br#"{"ok":true,"ts":"1.2"}"#),
            Ok(())
        );
        assert_eq!(
            check_response("slack", 200, br#"{"ok":true,"warning":"missing_charset"}"#),
            Ok(())
        );
        // What a response_url answers.
        assert_eq!(check_response("slack", 200, b"ok"), Ok(()));
    }

    #[test]
    fn linear_graphql_errors_are_errors() {
        assert_eq!(
            check_response(
                "linear",
                200,
                br#"{"errors":[{"message":"Entity not found: Issue","extensions":{"code":"INVALID_INPUT"}},{"message":"second"}],"data":null}"#
            ),
            Err("linear: Entity not found: Issue; second".into())
        );
        assert_eq!(
            check_response(
                "linear",
                200,
                br#"{"data":{"commentCreate":{"success":false,"comment":null}}}"#
            ),
            Err("linear: commentCreate.success is false".into())
        );
        assert_eq!(
            check_response(
                "linear",
                200,
                br#"{"data":{"commentCreate":{"success":true,"comment":{"id":"c1"}}}}"#
            ),
            Ok(())
        );
        assert_eq!(
            check_response("linear", 200, br#"{"errors":[],"data":{}}"#),
            Ok(())
        );
    }

    #[test]
    fn other_answers_pass() {
        // Other providers' 2xx bodies are never read.
        assert_eq!(
            check_response("github", 201, br#"{"ok":false,"errors":["x"]}"#),
            Ok(())
        );
        assert_eq!(check_response("jira", 201, b"not json"), Ok(()));
        // A non-2xx status is the engine's to judge.
        assert_eq!(
            check_response("slack", 429, br#"{"ok":false,"error":"ratelimited"}"#),
            Ok(())
        );
        assert_eq!(
            check_response("linear", 400, br#"{"errors":[{"message":"x"}]}"#),
            Ok(())
        );
    }

    #[test]
    fn debug_output_hides_tokens() {
        let c = Credentials {
            token: "sekrit".into(),
            user: Some("me@example.com".into()),
        };
        assert!(!format!("{c:?}").contains("sekrit"));
        for (provider, key, token) in [
            ("github", "github:o/r#1", "sekrit"),
            ("gitlab", "gitlab:g/p#1", "sekrit"),
            ("linear", "linear:x", "lin_api_sekrit"),
        ] {
            let r = build(
                &target(provider, Some(key)),
                "x",
                Some(&creds(token)),
                Some("https://x"),
            )
            .unwrap();
            let shown = format!("{r:?}");
            assert!(!shown.contains("sekrit"), "{shown}");
            assert!(shown.contains("[redacted]"), "{shown}");
        }
    }

    // --- Property: no key or text makes `build` panic, produce a URL that does not
    // parse or leaves its base, a header that cannot be sent, or a body without the
    // text. ---

    /// The text nodes of an ADF document, in order, checking that none is empty.
    fn adf_texts(doc: &Value) -> Vec<String> {
        let mut out = Vec::new();
        for p in doc["content"].as_array().expect("doc content") {
            assert_eq!(p["type"], "paragraph");
            for node in p["content"].as_array().expect("paragraph content") {
                if node["type"] == "text" {
                    let t = node["text"].as_str().expect("text");
                    assert!(!t.is_empty(), "empty ADF text node in {doc}");
                    out.push(t.to_owned());
                } else {
                    assert_eq!(node["type"], "hardBreak");
                }
            }
        }
        out
    }

    /// A provider's thread keys: mostly of the valid shape (so the request is built
    /// and checked), some of its shape with odd bytes in every part, some made of
    /// piled-up separators, some anything at all.
    fn thread_key(provider: &'static str) -> BoxedStrategy<String> {
        let shaped: BoxedStrategy<String> = match provider {
            "github" => prop_oneof![
                "github:[a-zA-Z0-9._-]{1,8}/[a-zA-Z0-9._-]{1,8}#[0-9]{1,20}",
                "github:[a-z./?# %é-]{1,6}/[a-z./?# %é-]{1,6}#[0-9]{1,3}",
                "github:[a-z/#]{0,4}#[0-9a-z+-]{0,4}",
                "github:[.a]{1,3}/[.a]{1,3}#[0-9]{1,2}",
            ]
            .boxed(),
            "gitlab" => prop_oneof![
                "gitlab:[a-z0-9._-]{1,6}(/[a-z0-9._-]{1,6}){0,3}[#!][0-9]{1,6}",
                "gitlab:[a-z/ %?é.#!-]{0,12}[#!][0-9]{1,3}",
                "gitlab:[a-z/#!]{0,6}[#!][0-9a-z+-]{0,3}",
                "gitlab:[./a]{1,4}[#!][0-9]{1,2}",
            ]
            .boxed(),
            "jira" => prop_oneof![
                "jira:[A-Z][A-Z0-9_]{0,5}-[0-9]{1,6}",
                "jira:[A-Za-z0-9_ /.?é#]{1,6}-[0-9]{1,3}",
                "jira:[A-Za-z0-9_ /.?-]{0,10}",
                "jira:[A-Z]{1,3}-[0-9?#/. ]{1,4}",
            ]
            .boxed(),
            "slack" => prop_oneof![
                "slack:[A-Z0-9]{1,11}:[0-9]{1,10}[.][0-9]{6}",
                "slack:[A-Za-z0-9 :.é]{0,12}",
            ]
            .boxed(),
            "linear" => prop_oneof![
                "linear:[a-f0-9-]{1,36}",
                "linear:[a-zA-Z0-9 \t\n:#é-]{0,12}"
            ]
            .boxed(),
            _ => "[a-z]{1,6}:[a-z0-9]{1,6}".boxed(),
        };
        let part = prop_oneof![
            Just("github:"),
            Just("gitlab:"),
            Just("jira:"),
            Just("slack:"),
            Just("linear:"),
            Just("o"),
            Just("OPS"),
            Just("/"),
            Just("#"),
            Just("!"),
            Just(":"),
            Just("-"),
            Just("_"),
            Just("."),
            Just(".."),
            Just("0"),
            Just("1"),
            Just("42"),
            Just("18446744073709551616"),
            Just(" "),
            Just("?"),
            Just("%2F"),
            Just("é"),
            Just("\u{0}"),
            Just("\n"),
            Just("\""),
            Just("🦀"),
            Just("@"),
        ];
        prop_oneof![
            4 => shaped,
            1 => proptest::collection::vec(part, 0..8).prop_map(|v| v.concat()),
            1 => any::<String>(),
        ]
        .boxed()
    }

    /// Texts heavy in what JSON and ADF must escape or split, and anything at all.
    fn text() -> impl Strategy<Value = String> {
        prop_oneof!["[a \t\r\n\"\\\\{}é🦀\u{0}\u{2028}]{0,40}", any::<String>()]
    }

    proptest! {
        /// Whatever a receiver sends as `Retry-After`, parsing never panics, and
        /// whole seconds read back as themselves.
        #[test]
        fn retry_after_never_panics(v in ".{0,64}", secs in 0u64..10_000_000) {
            let _ = parse_retry_after(&v);
            prop_assert_eq!(parse_retry_after(&secs.to_string()), Some(Duration::from_secs(secs)));
        }

        /// Any answer body from any provider is judged without panicking.
        #[test]
        fn check_response_never_panics(provider in "[a-z]{0,8}", status in 100u16..600, body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = check_response(&provider, status, &body);
            let _ = check_response("slack", status, &body);
            let _ = check_response("linear", status, &body);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn build_never_panics_and_the_body_holds_the_text(
            (provider, key) in prop_oneof![
                Just("github"), Just("gitlab"), Just("jira"), Just("slack"), Just("linear"),
                Just("stripe"),
            ]
            .prop_flat_map(|p| (Just(p), thread_key(p))),
            text in text(),
            with_token in proptest::bool::weighted(0.8),
            with_user in any::<bool>(),
            with_response_url in any::<bool>(),
        ) {
            let t = Target {
                provider,
                thread_key: Some(&key),
                subject: None,
                response_url: with_response_url.then_some("https://hooks.slack.com/x"),
            };
            let c = Credentials {
                token: "tok".into(),
                user: with_user.then(|| "u@example.com".to_owned()),
            };
            let c = with_token.then_some(&c);
            if let Ok(r) = build(&t, &text, c, Some("https://api.example.com/base")) {
                prop_assert!(r.url.parse::<http::Uri>().is_ok(), "{:?} gave URL {}", key, r.url);
                prop_assert!(
                    r.url.starts_with("https://api.example.com/base/")
                        || r.url == "https://hooks.slack.com/x",
                    "{:?} gave URL {}", key, r.url
                );
                // The key stays inside its path segments: no query, fragment or dot
                // segment can come from it.
                let path = r.url.trim_start_matches("https://api.example.com/base");
                prop_assert!(
                    !path.contains(['?', '#']) && !path.split('/').any(|s| s == "." || s == ".."),
                    "{:?} gave URL {}", key, r.url
                );
                for (k, v) in &r.headers {
                    prop_assert!(http::HeaderName::from_bytes(k.as_bytes()).is_ok());
                    prop_assert!(http::HeaderValue::from_str(v).is_ok());
                }
                let body = json_body(&r);
                match provider {
                    "github" | "gitlab" => prop_assert_eq!(&body["body"], &json!(text)),
                    "slack" => prop_assert_eq!(&body["text"], &json!(text)),
                    "linear" => prop_assert_eq!(&body["variables"]["input"]["body"], &json!(text)),
                    "jira" => {
                        let lines: Vec<&str> =
                            text.lines().filter(|l| !l.trim().is_empty()).collect();
                        prop_assert_eq!(adf_texts(&body["body"]), lines);
                    }
                    other => prop_assert!(false, "{} built a request", other),
                }
            }
        }
    }

    /// The property above is not vacuous: well-formed keys with arbitrary text build.
    #[test]
    fn well_formed_keys_build_for_every_provider() {
        let base = Some("https://api.example.com/base");
        for (provider, key) in [
            ("github", "github:o/r#1"),
            ("gitlab", "gitlab:g/s/p!2"),
            ("jira", "jira:OPS-3"),
            ("slack", "slack:C1:4.5"),
            ("linear", "linear:6"),
        ] {
            let r = build(
                &target(provider, Some(key)),
                "line\n\n\"quoted\" \u{0} 🦀",
                Some(&creds("t")),
                base,
            );
            assert!(r.is_ok(), "{provider}: {r:?}");
        }
    }
}
