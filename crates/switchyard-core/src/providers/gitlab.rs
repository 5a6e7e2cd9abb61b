//! GitLab: the webhook's secret token is sent verbatim in `X-Gitlab-Token`. It is a
//! shared password, not a signature, so it does not cover the body. The event kind is
//! the body's `object_kind` (the `X-Gitlab-Event` header names it too, as `Push Hook`).
//! Follows "Webhooks", sections "Secret token" and "Delivery headers":
//! <https://docs.gitlab.com/user/project/integrations/webhooks/>
//! and the payloads in <https://docs.gitlab.com/user/project/integrations/webhook_events/>.

use crate::event::{str_at, text_at};
use crate::provider::{Inbound, ParseError, Provider, Secret, VerifyError};
use crate::sig;
use crate::{EventType, Normalized};

pub struct GitLab;

const TOKEN: &str = "x-gitlab-token";

impl Provider for GitLab {
    fn name(&self) -> &'static str {
        "gitlab"
    }

    fn requires_secret(&self) -> bool {
        true
    }

    fn verify(&self, req: &Inbound<'_>, secrets: &[Secret]) -> Result<(), VerifyError> {
        let given = req.signature_header(TOKEN)?;
        // Every secret is compared, so the time taken does not reveal which one matched.
        // An empty secret never matches, or an empty header would pass.
        let mut ok = false;
        for s in secrets {
            ok |= !s.expose().is_empty() && sig::ct_eq(s.expose(), given.as_bytes());
        }
        if ok {
            Ok(())
        } else {
            Err(VerifyError::Mismatch)
        }
    }

    fn normalize(&self, req: &Inbound<'_>) -> Result<Normalized, ParseError> {
        let payload = sig::json_body(req)?;
        if !payload.is_object() {
            return Err(ParseError::Malformed("body must be a JSON object".into()));
        }
        let kind = str_at(&payload, "/object_kind").filter(|k| !k.is_empty());
        let event_type = match &kind {
            Some(kind) => match str_at(&payload, "/object_attributes/action") {
                Some(action) if !action.is_empty() => format!("{kind}.{action}"),
                _ => kind.clone(),
            },
            // Older or unusual hooks without `object_kind` still name themselves in
            // the header: `Push Hook` becomes `push_hook`.
            None => match req.header("x-gitlab-event") {
                Some(h) if !h.is_empty() => h.to_ascii_lowercase().replace(' ', "_"),
                _ => {
                    return Err(ParseError::Malformed(
                        "no object_kind in the body and no X-Gitlab-Event header".into(),
                    ))
                }
            },
        };
        let mut n = Normalized::new(EventType::sanitized(&event_type), payload);
        // `Idempotency-Key` (GitLab 17.4+) is documented as the one id that stays the
        // same across retries, so it comes first. `X-Gitlab-Event-UUID` is the
        // fallback for older instances; GitLab gives a webhook that was triggered by
        // an earlier webhook the same value, so it is only second best.
        n.delivery_id = req
            .header("idempotency-key")
            .or_else(|| req.header("x-gitlab-event-uuid"))
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        let p = &n.payload;
        n.source = str_at(p, "/project/path_with_namespace");
        n.subject = str_at(p, "/object_attributes/url");
        // Push and tag events have no `user` object, only `user_username`.
        n.actor = str_at(p, "/user/username").or_else(|| str_at(p, "/user_username"));
        // Issues and merge requests are numbered separately, so issue 5 and merge
        // request 5 are different things. GitLab writes them `#5` and `!5`, and so
        // do the thread keys.
        let reference = match kind.as_deref() {
            Some("issue") => text_at(p, "/object_attributes/iid").map(|i| format!("#{i}")),
            Some("merge_request") => text_at(p, "/object_attributes/iid").map(|i| format!("!{i}")),
            Some("note") => text_at(p, "/issue/iid")
                .map(|i| format!("#{i}"))
                .or_else(|| text_at(p, "/merge_request/iid").map(|i| format!("!{i}"))),
            _ => None,
        };
        n.thread_key = match (&n.source, reference) {
            (Some(project), Some(r)) => Some(format!("gitlab:{project}{r}")),
            _ => None,
        };
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::testkit::{self, Req};
    use proptest::prelude::*;

    // GitLab publishes no test vector: the scheme is a plain token comparison.
    const TOKEN_VALUE: &str = "glwt-7b1f0c2e9a";

    // Shaped like the issue event in GitLab's webhook_events documentation.
    const ISSUE_OPEN: &str = r#"{"object_kind":"issue","event_type":"issue","user":{"id":1,"name":"Administrator","username":"root"},"project":{"id":1,"path_with_namespace":"gitlabhq/gitlab-test","web_url":"http://example.com/gitlabhq/gitlab-test"},"object_attributes":{"id":301,"iid":23,"title":"New API: create/update/delete file","url":"http://example.com/gitlabhq/gitlab-test/-/issues/23","action":"open","state":"opened"}}"#;

    #[test]
    fn token_verifies_and_wrong_or_missing_token_is_refused() {
        let secrets = [Secret::new(TOKEN_VALUE)];
        let good = Req::new(ISSUE_OPEN).header("x-gitlab-token", TOKEN_VALUE);
        assert_eq!(GitLab.verify(&good.inbound(), &secrets), Ok(()));
        let wrong = Req::new(ISSUE_OPEN).header("x-gitlab-token", "glwt-7b1f0c2e9b");
        assert_eq!(
            GitLab.verify(&wrong.inbound(), &secrets),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            GitLab.verify(&good.inbound(), &[Secret::new("other")]),
            Err(VerifyError::Mismatch)
        );
        let unsigned = Req::new(ISSUE_OPEN);
        assert_eq!(
            GitLab.verify(&unsigned.inbound(), &secrets),
            Err(VerifyError::Missing("x-gitlab-token"))
        );
    }

    #[test]
    fn the_token_does_not_cover_the_body() {
        // GitLab's token is not a signature: a changed body with the right token
        // still verifies. This documents the scheme rather than endorsing it.
        let r = Req::new("{}").header("x-gitlab-token", TOKEN_VALUE);
        assert_eq!(
            GitLab.verify(&r.inbound(), &[Secret::new(TOKEN_VALUE)]),
            Ok(())
        );
    }

    #[test]
    fn empty_secret_and_empty_header_do_not_match() {
        let r = Req::new("{}").header("x-gitlab-token", "");
        assert_eq!(
            GitLab.verify(&r.inbound(), &[Secret::new("")]),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn rotation_accepts_any_configured_token() {
        let r = Req::new(ISSUE_OPEN).header("x-gitlab-token", TOKEN_VALUE);
        let secrets = [Secret::new("old-token"), Secret::new(TOKEN_VALUE)];
        assert_eq!(GitLab.verify(&r.inbound(), &secrets), Ok(()));
    }

    #[test]
    fn issue_open_normalizes() {
        let r = Req::new(ISSUE_OPEN)
            .header("content-type", "application/json")
            .header("x-gitlab-event", "Issue Hook")
            .header(
                "x-gitlab-event-uuid",
                "13792a34-cac6-4fda-95a8-c58e00a3954e",
            )
            .header("idempotency-key", "f5e5f430-f57b-4e6e-9fac-d9128cd7232f");
        let n = GitLab.normalize(&r.inbound()).unwrap();
        assert_eq!(n.event_type.as_str(), "issue.open");
        assert_eq!(
            n.delivery_id.as_deref(),
            Some("f5e5f430-f57b-4e6e-9fac-d9128cd7232f")
        );
        assert_eq!(n.source.as_deref(), Some("gitlabhq/gitlab-test"));
        assert_eq!(
            n.subject.as_deref(),
            Some("http://example.com/gitlabhq/gitlab-test/-/issues/23")
        );
        assert_eq!(n.actor.as_deref(), Some("root"));
        assert_eq!(
            n.thread_key.as_deref(),
            Some("gitlab:gitlabhq/gitlab-test#23")
        );
    }

    #[test]
    fn event_uuid_is_the_delivery_id_before_gitlab_17_4() {
        let r = Req::new(ISSUE_OPEN).header(
            "x-gitlab-event-uuid",
            "13792a34-cac6-4fda-95a8-c58e00a3954e",
        );
        let n = GitLab.normalize(&r.inbound()).unwrap();
        assert_eq!(
            n.delivery_id.as_deref(),
            Some("13792a34-cac6-4fda-95a8-c58e00a3954e")
        );
    }

    #[test]
    fn merge_request_merge_and_notes_thread_on_their_iid() {
        let body = r#"{"object_kind":"merge_request","user":{"username":"ana"},"project":{"path_with_namespace":"g/p"},"object_attributes":{"iid":5,"url":"http://example.com/g/p/-/merge_requests/5","action":"merge"}}"#;
        let n = GitLab.normalize(&Req::new(body).inbound()).unwrap();
        assert_eq!(n.event_type.as_str(), "merge_request.merge");
        assert_eq!(n.thread_key.as_deref(), Some("gitlab:g/p!5"));

        let note_on_mr = r#"{"object_kind":"note","user":{"username":"ana"},"project":{"path_with_namespace":"g/p"},"object_attributes":{"note":"LGTM","noteable_type":"MergeRequest","url":"http://example.com/g/p/-/merge_requests/5#note_1"},"merge_request":{"iid":5}}"#;
        let n = GitLab.normalize(&Req::new(note_on_mr).inbound()).unwrap();
        assert_eq!(n.event_type.as_str(), "note");
        assert_eq!(n.thread_key.as_deref(), Some("gitlab:g/p!5"));

        let note_on_issue = r#"{"object_kind":"note","project":{"path_with_namespace":"g/p"},"object_attributes":{"noteable_type":"Issue"},"issue":{"iid":5}}"#;
        let n = GitLab
            .normalize(&Req::new(note_on_issue).inbound())
            .unwrap();
        assert_eq!(n.thread_key.as_deref(), Some("gitlab:g/p#5"));
    }

    #[test]
    fn push_has_no_action_and_names_its_user_flat() {
        let body = r#"{"object_kind":"push","event_name":"push","ref":"refs/heads/main","user_username":"jsmith","project":{"path_with_namespace":"mike/diaspora"}}"#;
        let n = GitLab.normalize(&Req::new(body).inbound()).unwrap();
        assert_eq!(n.event_type.as_str(), "push");
        assert_eq!(n.actor.as_deref(), Some("jsmith"));
        assert_eq!(n.source.as_deref(), Some("mike/diaspora"));
        assert_eq!(n.thread_key, None);
    }

    #[test]
    fn header_names_the_event_when_the_body_does_not() {
        let r = Req::new(r#"{"ref":"refs/tags/v1"}"#).header("x-gitlab-event", "Tag Push Hook");
        let n = GitLab.normalize(&r.inbound()).unwrap();
        assert_eq!(n.event_type.as_str(), "tag_push_hook");
        let r = Req::new(r#"{"ref":"refs/tags/v1"}"#);
        assert!(matches!(
            GitLab.normalize(&r.inbound()),
            Err(ParseError::Malformed(_))
        ));
    }

    #[test]
    fn malformed_and_unsupported_bodies() {
        let r = Req::new("{not json").header("x-gitlab-event", "Push Hook");
        assert!(matches!(
            GitLab.normalize(&r.inbound()),
            Err(ParseError::Malformed(_))
        ));
        let r = Req::new("[1]").header("x-gitlab-event", "Push Hook");
        assert!(matches!(
            GitLab.normalize(&r.inbound()),
            Err(ParseError::Malformed(_))
        ));
        let r = Req::new(ISSUE_OPEN).header("content-type", "text/xml");
        assert!(matches!(
            GitLab.normalize(&r.inbound()),
            Err(ParseError::UnsupportedMedia(_))
        ));
    }

    proptest! {
        #[test]
        fn never_panics(token in testkit::header_bytes(),
                        event in testkit::header_bytes(),
                        body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let r = Req::new(body)
                .raw_header("x-gitlab-token", &token)
                .raw_header("x-gitlab-event", &event);
            let _ = GitLab.verify(&r.inbound(), &[Secret::new(TOKEN_VALUE)]);
            let _ = GitLab.normalize(&r.inbound());
        }
    }
}
