//! A small keep-alive client for Switchyard's management API (`/api/...`, bearer
//! admin key): one HTTP/1.1 connection, one request at a time, reconnecting after a
//! transport error. Loopback only, like the rest of the tool.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST, USER_AGENT};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use crate::Target;

pub(crate) struct Api {
    addr: SocketAddr,
    host: HeaderValue,
    auth: HeaderValue,
    timeout: Duration,
    conn: Option<(SendRequest<Full<Bytes>>, JoinHandle<()>)>,
    /// Connections opened so far.
    pub(crate) connects: u64,
}

impl Drop for Api {
    fn drop(&mut self) {
        if let Some((_, driver)) = self.conn.take() {
            driver.abort();
        }
    }
}

/// One answer: its status and body.
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) body: Bytes,
}

impl Reply {
    pub(crate) fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The body, shortened, for messages.
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body[..self.body.len().min(600)]).into_owned()
    }
}

impl Api {
    pub(crate) fn new(target: &Target, admin_key: &str, timeout: Duration) -> anyhow::Result<Self> {
        let mut auth = HeaderValue::from_str(&format!("Bearer {admin_key}"))
            .context("the admin key is not a valid header value")?;
        auth.set_sensitive(true);
        Ok(Self {
            addr: target.addr,
            host: target.host_header.clone(),
            auth,
            timeout,
            conn: None,
            connects: 0,
        })
    }

    async fn connect(&mut self) -> anyhow::Result<()> {
        let stream = TcpStream::connect(self.addr)
            .await
            .with_context(|| format!("connecting to {}", self.addr))?;
        stream.set_nodelay(true)?;
        let (sender, conn) =
            hyper::client::conn::http1::handshake::<_, Full<Bytes>>(TokioIo::new(stream)).await?;
        let driver = tokio::spawn(async move {
            // The connection ends when the sender is dropped or the peer closes; its
            // error, if any, surfaces on the next request.
            let _ = conn.await;
        });
        self.conn = Some((sender, driver));
        self.connects += 1;
        Ok(())
    }

    async fn call_once(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
        headers: &[(HeaderName, HeaderValue)],
        with_auth: bool,
    ) -> anyhow::Result<Reply> {
        if self.conn.as_ref().is_none_or(|(s, _)| s.is_closed()) {
            self.drop_conn();
            self.connect().await?;
        }
        let (sender, _) = self.conn.as_mut().context("no connection")?;
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, self.host.clone())
            .header(USER_AGENT, HeaderValue::from_static("switchyard-bench"));
        if with_auth {
            req = req.header(AUTHORIZATION, self.auth.clone());
        }
        if body.is_some() {
            req = req.header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        for (k, v) in headers {
            req = req.header(k, v.clone());
        }
        let req = req.body(Full::new(body.unwrap_or_default()))?;
        sender.ready().await?;
        let resp = sender.send_request(req).await?;
        let status = resp.status();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok(Reply { status, body })
    }

    fn drop_conn(&mut self) {
        if let Some((_, driver)) = self.conn.take() {
            driver.abort();
        }
    }

    /// One request. A transport error or a timeout drops the connection (the next
    /// call opens a new one) and is returned; HTTP errors are answers.
    pub(crate) async fn call(
        &mut self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> anyhow::Result<Reply> {
        let bytes = match body {
            Some(v) => Some(Bytes::from(serde_json::to_vec(v)?)),
            None => None,
        };
        self.send(method, path, bytes, &[], true).await
    }

    /// [`Api::call`] with a raw body, extra headers, and the admin key only when
    /// `with_auth` (the ingest endpoints do not take it).
    pub(crate) async fn send(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
        headers: &[(HeaderName, HeaderValue)],
        with_auth: bool,
    ) -> anyhow::Result<Reply> {
        let limit = self.timeout;
        let out = tokio::time::timeout(
            limit,
            self.call_once(method, path, body, headers, with_auth),
        )
        .await;
        match out {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => {
                self.drop_conn();
                Err(e)
            }
            Err(_) => {
                self.drop_conn();
                anyhow::bail!("{path}: no answer within {limit:?}")
            }
        }
    }
}
