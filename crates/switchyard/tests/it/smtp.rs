//! A real SMTP server on 127.0.0.1 for the tests: RFC 5321's commands without
//! extensions, any number of sessions, every accepted message kept (dot-stuffing
//! undone). Waiting for a message is woken by its arrival.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// One message as the server received it.
#[derive(Debug, Clone, Default)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
}

impl Mail {
    /// The message with quoted-printable soft line breaks and `=3D` undone, so
    /// a URL split across lines reads whole.
    pub fn text(&self) -> String {
        self.data.replace("=\r\n", "").replace("=3D", "=")
    }
}

pub struct SmtpServer {
    pub port: u16,
    mails: Arc<Mutex<Vec<Mail>>>,
    arrived: watch::Sender<usize>,
}

impl SmtpServer {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind smtp");
        let port = listener.local_addr().expect("addr").port();
        let mails = Arc::new(Mutex::new(Vec::new()));
        let (arrived, _) = watch::channel(0);
        let (m, a) = (mails.clone(), arrived.clone());
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let (m, a) = (m.clone(), a.clone());
                tokio::spawn(async move {
                    let _ = session(sock, m, a).await;
                });
            }
        });
        Self {
            port,
            mails,
            arrived,
        }
    }

    /// Waits for at least `n` messages; panics after `timeout`.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Mail> {
        let mut rx = self.arrived.subscribe();
        let ok = tokio::time::timeout(timeout, rx.wait_for(|&c| c >= n)).await;
        let mails = self.mails.lock().unwrap().clone();
        assert!(
            matches!(ok, Ok(Ok(_))),
            "expected {n} mails, got {}",
            mails.len()
        );
        mails
    }
}

async fn session(
    sock: TcpStream,
    mails: Arc<Mutex<Vec<Mail>>>,
    arrived: watch::Sender<usize>,
) -> std::io::Result<()> {
    let (r, mut w) = sock.into_split();
    let mut lines = BufReader::new(r);
    let mut mail = Mail::default();
    w.write_all(b"220 test ESMTP\r\n").await?;
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let cmd = line.trim_end().to_owned();
        let upper = cmd.to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            b"250 test\r\n"
        } else if upper.starts_with("MAIL FROM:") {
            mail.from = cmd[10..].to_owned();
            b"250 ok\r\n"
        } else if upper.starts_with("RCPT TO:") {
            mail.to.push(cmd[8..].to_owned());
            b"250 ok\r\n"
        } else if upper == "DATA" {
            w.write_all(b"354 go on\r\n").await?;
            loop {
                line.clear();
                if lines.read_line(&mut line).await? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" {
                    break;
                }
                let l = line.strip_prefix('.').unwrap_or(&line);
                mail.data.push_str(l);
            }
            let n = {
                let mut all = mails.lock().unwrap();
                all.push(std::mem::take(&mut mail));
                all.len()
            };
            arrived.send_replace(n);
            b"250 queued\r\n"
        } else if upper == "RSET" || upper == "NOOP" {
            b"250 ok\r\n"
        } else if upper == "QUIT" {
            w.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else {
            b"502 not implemented\r\n"
        };
        w.write_all(reply).await?;
    }
}
