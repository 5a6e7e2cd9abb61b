//! The e-mail for a pending checkpoint, and sending it over SMTP (lettre, rustls).
//!
//! The message is `multipart/alternative`: plain text and HTML saying the same — the
//! name, the question, a context summary (shared with Slack:
//! [`switchyard_core::notice::context_summary`]), one link per allowed decision to
//! the confirm page `{public_url}/ui/confirm/{token}` (a signed
//! [`Links`](super::links::Links) token; the page's GET only shows it, its POST
//! decides, so mail scanners that follow links decide nothing), and the dashboard
//! link. Every text from the checkpoint is HTML-escaped in the HTML part; the
//! subject is cleared of line breaks.

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;
use switchyard_core::checkpoint::Decision;
use switchyard_core::notice::{clip, context_summary, Notice};

use super::links::{confirm_url, Links};
use crate::config::{SmtpConfig, SmtpTls};

/// Context entries an e-mail lists.
const SUMMARY_ENTRIES: usize = 20;
/// The longest subject, in characters.
const SUBJECT_MAX: usize = 150;
/// How long one SMTP exchange may take.
pub const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// The texts of a checkpoint's e-mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content {
    pub subject: String,
    pub text: String,
    pub html: String,
    /// `(decision, confirm URL)` for each allowed decision, in the checkpoint's order.
    pub links: Vec<(Decision, String)>,
}

/// Why an e-mail was not built or not sent.
#[derive(Debug, thiserror::Error)]
pub enum EmailError {
    /// An address (from the configuration or the checkpoint) is not one.
    #[error("{0:?} is not an e-mail address")]
    Address(String),
    #[error("the message could not be built: {0}")]
    Build(String),
    /// The SMTP exchange failed; `permanent` when the server refused for good (5xx),
    /// so a retry would fail the same way.
    #[error("SMTP: {message}")]
    Send { message: String, permanent: bool },
}

impl EmailError {
    /// Whether sending again cannot help.
    pub fn is_permanent(&self) -> bool {
        match self {
            Self::Address(_) | Self::Build(_) => true,
            Self::Send { permanent, .. } => *permanent,
        }
    }
}

/// `s` escaped for HTML text and attribute values.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn label(d: Decision) -> &'static str {
    match d {
        Decision::Approve => "Approve",
        Decision::Reject => "Reject",
        Decision::Edit => "Edit",
        Decision::Respond => "Respond",
    }
}

/// The subject, text and HTML of the e-mail for a pending checkpoint, with one
/// link per allowed decision signed by `links` until `link_expires` (Unix seconds;
/// see [`super::links::link_expiry`]).
pub fn content(n: &Notice<'_>, links: &Links, link_expires: i64) -> Content {
    let name = &n.spec.name;
    let subject = clip(
        &format!("Decision needed: {name}")
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect::<String>(),
        SUBJECT_MAX,
    );
    let decision_links: Vec<(Decision, String)> = n
        .spec
        .allowed()
        .into_iter()
        .map(|d| {
            let token = links.sign(n.checkpoint_id, d, link_expires);
            (d, confirm_url(n.public_url, &token))
        })
        .collect();
    let inbox = n.inbox_url();
    let question = n.spec.question.as_deref().filter(|q| !q.trim().is_empty());
    let summary = context_summary(&n.spec.context, SUMMARY_ENTRIES);
    let expires = n.expires_at.map(|at| {
        let then = n.spec.default_decision.map_or(String::new(), |d| {
            format!(", then it is decided: {}", d.as_str())
        });
        format!("This checkpoint expires at {at}{then}.")
    });
    let confirm_note =
        "Each link opens a page that asks you to confirm: nothing is decided until you do.";

    let mut text = format!("Checkpoint \"{name}\" is waiting for your decision.\n\n");
    if let Some(q) = question {
        text.push_str(q);
        text.push_str("\n\n");
    }
    if !summary.entries.is_empty() {
        text.push_str("Context:\n");
        for (k, v) in &summary.entries {
            text.push_str(&format!("  {k}: {v}\n"));
        }
        if summary.more > 0 {
            text.push_str(&format!("  ({} more in the dashboard)\n", summary.more));
        }
        text.push('\n');
    }
    text.push_str("Decide:\n");
    for (d, url) in &decision_links {
        text.push_str(&format!("  {}: {url}\n", label(*d)));
    }
    text.push_str(&format!(
        "\n{confirm_note}\n\nOpen it in Switchyard: {inbox}\n"
    ));
    if let Some(e) = &expires {
        text.push_str(&format!("\n{e}\n"));
    }
    text.push_str(&format!("\nCheckpoint id: {}\n", n.checkpoint_id));

    let h = html_escape;
    let mut html = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head><body style=\"font-family: sans-serif\">\n",
    );
    html.push_str(&format!(
        "<p>Checkpoint <strong>{}</strong> is waiting for your decision.</p>\n",
        h(name)
    ));
    if let Some(q) = question {
        html.push_str(&format!(
            "<p style=\"white-space: pre-wrap\">{}</p>\n",
            h(q)
        ));
    }
    if !summary.entries.is_empty() {
        html.push_str("<table>\n");
        for (k, v) in &summary.entries {
            html.push_str(&format!(
                "<tr><th align=\"left\">{}</th><td>{}</td></tr>\n",
                h(k),
                h(v)
            ));
        }
        html.push_str("</table>\n");
        if summary.more > 0 {
            html.push_str(&format!(
                "<p>({} more in the dashboard)</p>\n",
                summary.more
            ));
        }
    }
    html.push_str("<p>\n");
    for (d, url) in &decision_links {
        html.push_str(&format!(
            "<a href=\"{}\" style=\"display: inline-block; padding: 8px 16px; margin-right: 8px; border: 1px solid #888; border-radius: 4px; text-decoration: none\">{}</a>\n",
            h(url),
            label(*d)
        ));
    }
    html.push_str("</p>\n");
    html.push_str(&format!("<p>{}</p>\n", h(confirm_note)));
    html.push_str(&format!(
        "<p><a href=\"{}\">Open it in Switchyard</a></p>\n",
        h(&inbox)
    ));
    if let Some(e) = &expires {
        html.push_str(&format!("<p>{}</p>\n", h(e)));
    }
    html.push_str(&format!(
        "<p style=\"color: #888\">Checkpoint id: {}</p>\n</body></html>\n",
        h(n.checkpoint_id)
    ));
    Content {
        subject,
        text,
        html,
        links: decision_links,
    }
}

/// The e-mail itself: `content` from `from` to `to`.
pub fn message(from: &str, to: &[String], content: &Content) -> Result<Message, EmailError> {
    let from: Mailbox = from
        .parse()
        .map_err(|_| EmailError::Address(from.to_owned()))?;
    let mut builder = Message::builder().from(from).subject(&content.subject);
    if to.is_empty() {
        return Err(EmailError::Build("no recipients".into()));
    }
    for t in to {
        let mb: Mailbox = t.parse().map_err(|_| EmailError::Address(t.clone()))?;
        builder = builder.to(mb);
    }
    builder
        .multipart(MultiPart::alternative_plain_html(
            content.text.clone(),
            content.html.clone(),
        ))
        .map_err(|e| EmailError::Build(e.to_string()))
}

/// Sends `message` through the SMTP server `cfg` names: with STARTTLS required
/// (`starttls`), over TLS from the start (`tls`), or in the clear (`none`), and
/// with the username and password when set.
pub async fn send(cfg: &SmtpConfig, message: Message) -> Result<(), EmailError> {
    let failed = |e: lettre::transport::smtp::Error| EmailError::Send {
        message: e.to_string(),
        permanent: e.is_permanent(),
    };
    let builder = match cfg.tls {
        SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&cfg.host),
        SmtpTls::Starttls => {
            AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&cfg.host).map_err(failed)?
        }
        SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&cfg.host).map_err(failed)?,
    };
    let mut builder = builder.port(cfg.port).timeout(Some(SMTP_TIMEOUT));
    if let (Some(user), Some(password)) = (&cfg.username, &cfg.password) {
        builder = builder.credentials(Credentials::new(
            user.clone(),
            password.expose_secret().to_owned(),
        ));
    }
    builder
        .build()
        .send(message)
        .await
        .map(|_| ())
        .map_err(failed)
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use serde_json::json;
    use switchyard_core::checkpoint::Spec;
    use switchyard_store::Sealer;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    use tokio::net::TcpListener;

    use super::*;

    /// What a loopback SMTP server received in one session.
    #[derive(Debug, Default)]
    struct Received {
        mail_from: String,
        rcpt_to: Vec<String>,
        data: String,
    }

    /// A real SMTP server on 127.0.0.1 (RFC 5321's commands, no extensions) for one
    /// session; answers RCPT with `rcpt_reply`. Returns its port and what arrived.
    async fn smtp_server(rcpt_reply: &'static str) -> (u16, tokio::task::JoinHandle<Received>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let (sock, _) = listener.accept().await.unwrap();
            let (r, mut w) = sock.into_split();
            let mut lines = BufReader::new(r);
            let mut got = Received::default();
            w.write_all(b"220 test ESMTP\r\n").await.unwrap();
            let mut line = String::new();
            loop {
                line.clear();
                if lines.read_line(&mut line).await.unwrap() == 0 {
                    return got;
                }
                let cmd = line.trim_end().to_owned();
                let upper = cmd.to_ascii_uppercase();
                let reply: &str = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                    "250 test\r\n"
                } else if upper.starts_with("MAIL FROM:") {
                    got.mail_from = cmd[10..].to_owned();
                    "250 ok\r\n"
                } else if upper.starts_with("RCPT TO:") {
                    got.rcpt_to.push(cmd[8..].to_owned());
                    rcpt_reply
                } else if upper == "DATA" {
                    w.write_all(b"354 go on\r\n").await.unwrap();
                    loop {
                        line.clear();
                        lines.read_line(&mut line).await.unwrap();
                        if line == ".\r\n" {
                            break;
                        }
                        // Dot-stuffing (RFC 5321 4.5.2).
                        let l = line.strip_prefix('.').unwrap_or(&line);
                        got.data.push_str(l);
                    }
                    "250 queued\r\n"
                } else if upper == "QUIT" {
                    w.write_all(b"221 bye\r\n").await.unwrap();
                    return got;
                } else {
                    "502 not implemented\r\n"
                };
                w.write_all(reply.as_bytes()).await.unwrap();
            }
        });
        (port, task)
    }

    fn smtp(port: u16) -> SmtpConfig {
        SmtpConfig {
            host: "127.0.0.1".into(),
            port,
            username: None,
            password: None,
            from: "Switchyard <alerts@example.com>".into(),
            tls: SmtpTls::None,
        }
    }

    fn spec() -> Spec {
        Spec::from_json(
            json!({
                "name": "after_planning & <review>",
                "question": "Ship it? <script>alert(1)</script>",
                "context": {"plan": "a \"quoted\" <plan>", "cost": 12},
                "decisions": ["approve", "reject", "respond"],
                "timeout_seconds": 3600,
                "default_decision": "reject",
            })
            .to_string()
            .as_bytes(),
        )
        .unwrap()
    }

    const NOW: i64 = 1_790_000_000;

    /// The decoded body of each MIME part of `data`, by its content type.
    fn parts(data: &str) -> Vec<(String, String)> {
        let boundary = data
            .split("boundary=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .expect("a multipart boundary");
        data.split(&format!("--{boundary}"))
            .skip(1)
            .filter(|p| !p.starts_with("--"))
            .map(|p| {
                let (head, body) = p.split_once("\r\n\r\n").unwrap();
                let head_lc = head.to_ascii_lowercase();
                let ctype = head_lc
                    .lines()
                    .find_map(|l| l.strip_prefix("content-type: "))
                    .unwrap()
                    .split(';')
                    .next()
                    .unwrap()
                    .to_owned();
                let cte = head_lc
                    .lines()
                    .find_map(|l| l.strip_prefix("content-transfer-encoding: "))
                    .unwrap_or("7bit")
                    .trim()
                    .to_owned();
                let body = match cte.as_str() {
                    "base64" => String::from_utf8(
                        base64::engine::general_purpose::STANDARD
                            .decode(body.split_whitespace().collect::<String>())
                            .unwrap(),
                    )
                    .unwrap(),
                    "quoted-printable" => quoted_printable(body),
                    _ => body.to_owned(),
                };
                (ctype, body.replace("\r\n", "\n"))
            })
            .collect()
    }

    fn quoted_printable(s: &str) -> String {
        let s = s.replace("=\r\n", "");
        let b = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'=' && i + 2 < b.len() {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 3;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    }

    #[tokio::test]
    async fn the_email_goes_over_smtp_with_both_parts_and_working_links() {
        let (port, server) = smtp_server("250 ok\r\n").await;
        let links = Links::new(&Sealer::new(&[3; 32]));
        let s = spec();
        let n = Notice {
            checkpoint_id: "cp-42",
            spec: &s,
            expires_at: Some("2026-09-21T12:00:00Z"),
            public_url: "https://hooks.example.com",
        };
        let c = content(&n, &links, NOW + 3600);
        let to = vec!["ops@example.com".to_owned(), "lead@example.org".to_owned()];
        let msg = message(&smtp(port).from, &to, &c).unwrap();
        send(&smtp(port), msg).await.unwrap();
        let got = server.await.unwrap();

        assert_eq!(got.mail_from, "<alerts@example.com>");
        assert_eq!(got.rcpt_to, vec!["<ops@example.com>", "<lead@example.org>"]);
        let head = got.data.split("\r\n\r\n").next().unwrap();
        assert!(
            head.contains("Subject: Decision needed: after_planning & <review>"),
            "{head}"
        );
        assert!(
            head.contains("From: Switchyard <alerts@example.com>"),
            "{head}"
        );
        assert!(
            head.contains("To: ops@example.com, lead@example.org"),
            "{head}"
        );
        assert!(head.contains("multipart/alternative"), "{head}");

        let parts = parts(&got.data);
        let kinds: Vec<&str> = parts.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(kinds, vec!["text/plain", "text/html"]);
        let (text, html) = (&parts[0].1, &parts[1].1);

        // One link per allowed decision, each verifying as that decision on this
        // checkpoint only.
        let mut seen = Vec::new();
        for (label, decision) in [
            ("Approve", Decision::Approve),
            ("Reject", Decision::Reject),
            ("Respond", Decision::Respond),
        ] {
            let url = text
                .lines()
                .find_map(|l| l.trim().strip_prefix(&format!("{label}: ")))
                .unwrap_or_else(|| panic!("no {label} link in {text}"));
            let token = url
                .strip_prefix("https://hooks.example.com/ui/confirm/")
                .unwrap();
            assert_eq!(links.verify(token, NOW), Ok(("cp-42".to_owned(), decision)));
            assert_eq!(
                links.verify(token, NOW + 3600),
                Err(super::super::links::LinkError::Expired)
            );
            assert!(html.contains(&format!("href=\"{url}\"")), "{html}");
            seen.push(decision);
        }
        assert!(!text.contains("Edit:"));
        assert!(text.contains("Open it in Switchyard: https://hooks.example.com/ui/inbox/cp-42"));
        assert!(html.contains("href=\"https://hooks.example.com/ui/inbox/cp-42\""));
        assert!(text.contains("Ship it? <script>alert(1)</script>"));
        assert!(text.contains("plan: a \"quoted\" <plan>"));
        assert!(text.contains("expires at 2026-09-21T12:00:00Z, then it is decided: reject"));

        // Everything from the checkpoint is escaped in the HTML.
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("Ship it? &lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("<strong>after_planning &amp; &lt;review&gt;</strong>"));
        assert!(html.contains("<td>a &quot;quoted&quot; &lt;plan&gt;</td>"));
    }

    #[tokio::test]
    async fn a_refused_recipient_is_a_permanent_failure() {
        let (port, server) = smtp_server("550 no such user\r\n").await;
        let links = Links::new(&Sealer::new(&[3; 32]));
        let s = spec();
        let n = Notice {
            checkpoint_id: "cp-1",
            spec: &s,
            expires_at: None,
            public_url: "https://hooks.example.com",
        };
        let c = content(&n, &links, NOW + 60);
        let msg = message(&smtp(port).from, &["x@example.com".to_owned()], &c).unwrap();
        let err = send(&smtp(port), msg).await.unwrap_err();
        assert!(err.is_permanent(), "{err}");
        assert!(err.to_string().contains("no such user"), "{err}");
        let got = server.await.unwrap();
        assert!(got.data.is_empty(), "no message after a refused RCPT");
    }

    #[tokio::test]
    async fn an_unreachable_server_is_worth_retrying() {
        // A port that was free a moment ago: nothing listens there.
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            l.local_addr().unwrap().port()
        };
        let links = Links::new(&Sealer::new(&[3; 32]));
        let s = spec();
        let n = Notice {
            checkpoint_id: "cp-1",
            spec: &s,
            expires_at: None,
            public_url: "https://hooks.example.com",
        };
        let msg = message(
            &smtp(port).from,
            &["x@example.com".to_owned()],
            &content(&n, &links, NOW + 60),
        )
        .unwrap();
        let err = send(&smtp(port), msg).await.unwrap_err();
        assert!(!err.is_permanent(), "{err}");
    }

    #[test]
    fn bad_addresses_and_subjects_are_handled() {
        let links = Links::new(&Sealer::new(&[3; 32]));
        let mut s = spec();
        s.name = "line\r\nBcc: evil@example.com".into();
        let n = Notice {
            checkpoint_id: "cp-1",
            spec: &s,
            expires_at: None,
            public_url: "https://hooks.example.com",
        };
        let c = content(&n, &links, NOW + 60);
        assert!(!c.subject.contains('\n') && !c.subject.contains('\r'));
        assert!(matches!(
            message("not an address", &["a@example.com".into()], &c),
            Err(EmailError::Address(_))
        ));
        assert!(matches!(
            message("a@example.com", &["b@example.com>, c@evil".into()], &c),
            Err(EmailError::Address(_))
        ));
        assert!(matches!(
            message("a@example.com", &[], &c),
            Err(EmailError::Build(_))
        ));
        assert_eq!(
            html_escape("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
    }
}
