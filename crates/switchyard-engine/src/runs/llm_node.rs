//! The LLM node (wired to the LLM client when it lands).

use serde_json::Value;

use super::nodes::{Ctx, Outcome};

pub(crate) async fn run(
    _ctx: &Ctx<'_>,
    _inputs: &mut Value,
    _detail: &mut Value,
) -> Result<Outcome, Outcome> {
    Err(Outcome::Failed {
        error: "LLM nodes are not wired yet".into(),
        retryable: false,
    })
}
