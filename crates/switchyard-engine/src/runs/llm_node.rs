//! The LLM node: the prompt with its placeholders filled, one chat completion
//! through [`crate::llm::LlmClient`] (structured output when the node asks for
//! it), and the answer read and type-checked into the node's outputs. A wrong
//! answer is a retryable failure (the model may answer better next time) that
//! keeps the text it got; the runner retries up to the node's `max_retries`.

use serde_json::{json, Map, Value};
use switchyard_core::workflow::{read_answer, NodeKind};

use super::nodes::{Ctx, Outcome};
use crate::llm::LlmRequest;

pub(crate) async fn run(
    ctx: &Ctx<'_>,
    inputs: &mut Value,
    detail: &mut Value,
) -> Result<Outcome, Outcome> {
    let NodeKind::Llm { prompt, llm, .. } = &ctx.node.kind else {
        return Err(Outcome::Failed {
            error: "not an LLM node".into(),
            retryable: false,
        });
    };
    let empty = Map::new();
    let state = ctx.state.as_object().unwrap_or(&empty);
    // configurable-agents' node `inputs`: local names, each a template over the state.
    let mut locals = Map::new();
    for (name, p) in &ctx.node.inputs {
        locals.insert(name.clone(), Value::String(p.render(state, &empty)));
    }
    let text = prompt.render(state, &locals);
    let cfg = llm.or(&ctx.wf.config.llm);
    let schema = ctx.node.output_json_schema(&ctx.wf.state);
    let key = ctx.idempotency_key();
    let client = &ctx.engine.llm;
    let record = client.record();
    *inputs = if record {
        json!({"prompt": text, "provider": cfg.provider, "model": cfg.model})
    } else {
        json!({"provider": cfg.provider, "model": cfg.model})
    };
    let req = LlmRequest {
        provider: cfg.provider.as_deref(),
        model: cfg.model.as_deref(),
        temperature: cfg.temperature,
        max_tokens: cfg.max_tokens,
        prompt: &text,
        json_schema: schema.as_ref(),
        idempotency_key: &key,
        timeout: std::time::Duration::from_secs(ctx.wf.timeout_of(ctx.node)),
    };
    let answer = client.complete(&req).await.map_err(|e| Outcome::Failed {
        retryable: e.retryable(),
        error: e.to_string(),
    })?;
    *detail = json!({
        "model": answer.model,
        "input_tokens": answer.input_tokens,
        "output_tokens": answer.output_tokens,
    });
    if record {
        detail["answer"] = json!(answer.text);
    }
    match read_answer(ctx.node, &ctx.wf.state, &answer.text) {
        Ok(fields) => Ok(Outcome::Done {
            result: Value::Object(fields),
            effects: Vec::new(),
        }),
        Err(e) => Err(Outcome::Failed {
            error: format!("the answer did not fit: {e} (answer: {})", excerpt(&e.text)),
            retryable: true,
        }),
    }
}

/// The start of an answer, for an error message.
fn excerpt(text: &str) -> String {
    let mut s: String = text.chars().take(500).collect();
    if s.len() < text.len() {
        s.push('…');
    }
    s
}
