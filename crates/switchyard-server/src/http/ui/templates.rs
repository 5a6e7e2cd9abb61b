//! The dashboard's templates, stylesheet and script, embedded in the binary
//! (`include_str!`), so the one binary serves the whole dashboard. Templates are
//! minijinja with HTML auto-escaping (every `.html` name), so a payload, a
//! header or a checkpoint's question shows as text, never as markup.

use std::sync::OnceLock;

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use minijinja::Environment;

const TEMPLATES: &[(&str, &str)] = &[
    ("layout.html", include_str!("templates/layout.html")),
    ("error.html", include_str!("templates/error.html")),
    ("login.html", include_str!("templates/login.html")),
    ("overview.html", include_str!("templates/overview.html")),
    ("webhooks.html", include_str!("templates/webhooks.html")),
    ("webhook.html", include_str!("templates/webhook.html")),
    (
        "webhook_row.html",
        include_str!("templates/webhook_row.html"),
    ),
    ("toggle.html", include_str!("templates/toggle.html")),
    (
        "webhook_delete.html",
        include_str!("templates/webhook_delete.html"),
    ),
    (
        "webhook_form.html",
        include_str!("templates/webhook_form.html"),
    ),
    (
        "webhook_rotate.html",
        include_str!("templates/webhook_rotate.html"),
    ),
    ("events.html", include_str!("templates/events.html")),
    ("event.html", include_str!("templates/event.html")),
    ("inbox.html", include_str!("templates/inbox.html")),
    ("checkpoint.html", include_str!("templates/checkpoint.html")),
    ("decide.html", include_str!("templates/decide.html")),
    ("workflows.html", include_str!("templates/workflows.html")),
    ("run.html", include_str!("templates/run.html")),
    ("deliveries.html", include_str!("templates/deliveries.html")),
    ("delivery.html", include_str!("templates/delivery.html")),
    (
        "deliveries_retry.html",
        include_str!("templates/deliveries_retry.html"),
    ),
    (
        "destinations.html",
        include_str!("templates/destinations.html"),
    ),
    ("tasks.html", include_str!("templates/tasks.html")),
    ("audit.html", include_str!("templates/audit.html")),
];

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            // The templates are ours and checked by the tests (every page is
            // rendered there); one that does not parse is a build defect, logged
            // and then answered as a 500 by `render`.
            if let Err(e) = env.add_template(name, source) {
                tracing::error!(template = name, error = %e, "dashboard template does not parse");
            }
        }
        env
    })
}

/// Renders template `name` with `ctx`.
pub fn render(name: &str, ctx: minijinja::Value) -> Result<String, minijinja::Error> {
    env().get_template(name)?.render(ctx)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Small, and changed only with the binary: a short cache is plenty.
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    r
}

/// `GET /ui/static/style.css`.
pub async fn style() -> Response {
    asset("text/css; charset=utf-8", include_str!("assets/style.css"))
}

/// `GET /ui/static/live.js`: live updates and in-place forms.
pub async fn script() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("assets/live.js"),
    )
}

/// `GET /ui/static/webhooks.js`: the webhook form's rows added and removed in
/// place, and the page that shows a secret once taking the webhook's own address.
pub async fn webhooks_script() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("assets/webhooks.js"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses() {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}
