//! The dashboard's sign-in: a signed, expiring session token in the
//! `switchyard_session` cookie, and the CSRF token every form carries.
//!
//! The token is `v1.{base64url(key_id)}.{base64url(scopes)}.{expires}.{base64url(mac)}`,
//! an HMAC-SHA256 under a key derived from the master key
//! ([`switchyard_store::Sealer::derive_key`], as decision links and task tokens
//! are), so every replica sharing the master key accepts what any of them signed
//! and nothing is stored per session. It names a key id, never the key: each
//! request asks the engine again what that key stands for
//! ([`switchyard_engine::Engine::principal_of_key`]), so revoking a key signs its
//! sessions out on the next click. The CSRF token is a second MAC over the session
//! token, so it needs no storage either and changes with each sign-in. Who is
//! looking at a page, and what they may do there, is [`super::viewer`].

use axum::http::HeaderMap;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use switchyard_core::sig::{ct_eq, hmac_sha256};
use switchyard_engine::access::Principal;

use crate::state::AppState;

/// The cookie's name (issue 12).
pub const COOKIE: &str = "switchyard_session";
/// The sign-in form's own cookie: a random nonce its CSRF token is a MAC of, so a
/// form posted from another site (which cannot read or send it) cannot sign the
/// browser in under someone else's key (login CSRF).
pub const LOGIN_COOKIE: &str = "switchyard_login";
/// How long a sign-in form stays good.
const LOGIN_FORM_SECS: i64 = 3600;
/// What [`switchyard_store::Sealer::derive_key`] derives the session key for.
const PURPOSE: &str = "dashboard session";
const VERSION: &str = "v1";
/// How long a sign-in lasts.
pub const LIFETIME_SECS: i64 = 12 * 3600;
/// The longest cookie value worth parsing.
const MAX_TOKEN: usize = 1024;

/// The session key, derived from the master key.
fn key(st: &AppState) -> [u8; 32] {
    st.engine.sealer.derive_key(PURPOSE)
}

fn now() -> i64 {
    switchyard_store::now_micros() / 1_000_000
}

/// A session token for `key_id` with `scopes`, good until `expires` (Unix seconds).
pub fn sign(st: &AppState, key_id: &str, scopes: &str, expires: i64) -> String {
    let signed = format!(
        "{VERSION}.{}.{}.{expires}",
        B64.encode(key_id),
        B64.encode(scopes)
    );
    let mac = B64.encode(hmac_sha256(&key(st), &[signed.as_bytes()]));
    format!("{signed}.{mac}")
}

/// The key id a token names, when its MAC checks out and it has not expired.
pub fn verify(st: &AppState, token: &str, now: i64) -> Option<String> {
    if token.len() > MAX_TOKEN {
        return None;
    }
    let (signed, mac) = token.rsplit_once('.')?;
    let mac = B64.decode(mac).ok()?;
    if !ct_eq(&mac, &hmac_sha256(&key(st), &[signed.as_bytes()])) {
        return None;
    }
    let parts: Vec<&str> = signed.split('.').collect();
    let [VERSION, key_id, _scopes, expires] = parts[..] else {
        return None;
    };
    let expires: i64 = expires.parse().ok()?;
    if now >= expires {
        return None;
    }
    String::from_utf8(B64.decode(key_id).ok()?).ok()
}

/// The CSRF token of a session: a MAC over the session token, compared in
/// constant time by [`super::viewer::Viewer::check_csrf`].
pub fn csrf_of(st: &AppState, session: &str) -> String {
    B64.encode(hmac_sha256(&key(st), &[b"csrf\0", session.as_bytes()]))
}

/// The session cookie's value in `headers`, if any.
pub fn cookie(headers: &HeaderMap) -> Option<&str> {
    cookie_named(headers, COOKIE)
}

/// The value of cookie `name` in `headers`, if any.
fn cookie_named<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A new sign-in form: its `Set-Cookie` value and the `csrf_token` it carries.
pub fn login_form(st: &AppState, secure: bool) -> (String, String) {
    let nonce = B64.encode(rand::random::<[u8; 16]>());
    let cookie = format!(
        "{LOGIN_COOKIE}={nonce}; Path=/ui/login; HttpOnly; SameSite=Strict; Max-Age={LOGIN_FORM_SECS}{}",
        if secure { "; Secure" } else { "" }
    );
    (cookie, login_csrf(st, &nonce))
}

fn login_csrf(st: &AppState, nonce: &str) -> String {
    B64.encode(hmac_sha256(&key(st), &[b"login\0", nonce.as_bytes()]))
}

/// Whether a posted sign-in form's `csrf_token` belongs to the form this browser
/// was given (its [`LOGIN_COOKIE`]).
pub fn check_login_form(st: &AppState, headers: &HeaderMap, given: &str) -> bool {
    match cookie_named(headers, LOGIN_COOKIE) {
        Some(nonce) if nonce.len() <= MAX_TOKEN => {
            ct_eq(given.as_bytes(), login_csrf(st, nonce).as_bytes())
        }
        _ => false,
    }
}

/// Whether the cookie gets `Secure`: the public URL is https, or the request came
/// through a proxy that says it was (marking it Secure when it need not be costs
/// nothing; missing it would send the session in clear).
pub fn secure(st: &AppState, headers: &HeaderMap) -> bool {
    st.engine.config.delivery.public_url.starts_with("https://")
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|p| p.eq_ignore_ascii_case("https"))
}

/// The `Set-Cookie` value that signs in with `token` (empty, expired: signs out).
pub fn set_cookie(token: &str, max_age: i64, secure: bool) -> String {
    format!(
        "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{}",
        if secure { "; Secure" } else { "" }
    )
}

/// Signs `p` in: the `Set-Cookie` value. A task token is no sign-in.
pub fn start(st: &AppState, p: &Principal, secure: bool) -> Option<String> {
    let Principal::Key { key_id, scopes } = p else {
        return None;
    };
    let scopes = scopes
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let token = sign(st, key_id, &scopes, now() + LIFETIME_SECS);
    Some(set_cookie(&token, LIFETIME_SECS, secure))
}

/// The principal a request's session cookie stands for now (`None`: not signed
/// in, expired, forged, or its key revoked), and the session token.
pub async fn principal(st: &AppState, headers: &HeaderMap) -> Option<(Principal, String)> {
    let token = cookie(headers)?;
    let key_id = verify(st, token, now())?;
    match st.engine.principal_of_key(&key_id).await {
        Ok(p) => p.map(|p| (p, token.to_owned())),
        Err(e) => {
            tracing::warn!(error = %e, "dashboard: checking a session's key failed");
            None
        }
    }
}
