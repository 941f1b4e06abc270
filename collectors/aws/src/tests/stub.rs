//! A small local HTTP stub for the AWS APIs moto does not serve faithfully,
//! and for faults (throttling, 5xx, denial, timeouts, malformed bodies).
//! It answers with the response shapes AWS documents for each protocol:
//! query protocol XML (STS, IAM, RDS), JSON 1.1 (CloudTrail, Config),
//! REST-XML (S3, S3 Control) and REST-JSON (Backup, Macie2). Loopback only;
//! one thread per connection.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A request as the stub saw it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

impl Request {
    /// The operation: `Action` of a query-protocol form, the `X-Amz-Target`
    /// operation of JSON protocols, else `METHOD path`.
    pub fn operation(&self) -> String {
        if let Some(action) = self
            .body
            .split('&')
            .find_map(|kv| kv.strip_prefix("Action="))
        {
            return action.to_string();
        }
        if let Some(t) = self.headers.get("x-amz-target") {
            return t.rsplit('.').next().unwrap_or(t).to_string();
        }
        format!("{} {}", self.method, self.path)
    }
}

/// What to answer.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Status, content type, body.
    Http(u16, &'static str, String),
    /// Say nothing for this long, then close.
    Silence(Duration),
    /// A 200 whose Content-Length promises `declared` bytes but whose body
    /// is only `body`; then wait, and close (a stalled or cut transfer).
    Partial {
        body: String,
        declared: usize,
        wait: Duration,
    },
}

/// Query-protocol success: `<{op}Response><{op}Result>{inner}</…>`.
pub fn query_ok(op: &str, inner: &str) -> Reply {
    Reply::Http(200, "text/xml", format!(
        "<{op}Response xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><{op}Result>{inner}</{op}Result><ResponseMetadata><RequestId>7a62c49f-347e-4fc4-9331-6e8eEXAMPLE</RequestId></ResponseMetadata></{op}Response>"
    ))
}

/// Query-protocol error (`ErrorResponse`).
pub fn query_error(status: u16, code: &str, message: &str) -> Reply {
    Reply::Http(status, "text/xml", format!(
        "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>7a62c49f-347e-4fc4-9331-6e8eEXAMPLE</RequestId></ErrorResponse>"
    ))
}

/// JSON success (JSON 1.1 and REST-JSON protocols).
pub fn json_ok(body: &str) -> Reply {
    Reply::Http(200, "application/json", body.to_string())
}

/// JSON error (JSON 1.1 and REST-JSON): the error type in `__type`, as AWS sends it.
pub fn json_error(status: u16, code: &str, message: &str) -> Reply {
    Reply::Http(
        status,
        "application/json",
        format!("{{\"__type\":\"{code}\",\"message\":\"{message}\"}}"),
    )
}

/// STS GetCallerIdentity for an IAM user of `account`.
pub fn caller_identity(account: &str) -> Reply {
    query_ok("GetCallerIdentity", &format!(
        "<Arn>arn:aws:iam::{account}:user/evident</Arn><UserId>AIDAEXAMPLEEVIDENT</UserId><Account>{account}</Account>"
    ))
}

/// A running stub; requests it saw are kept for assertions.
pub struct Stub {
    pub url: String,
    pub seen: Arc<Mutex<Vec<String>>>,
}

/// Start a stub answering with `route` (None: 404 with a documented-looking error).
pub fn start(route: impl Fn(&Request) -> Option<Reply> + Send + Sync + 'static) -> Stub {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let route = Arc::new(route);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let route = route.clone();
            let seen = seen2.clone();
            std::thread::spawn(move || {
                let _ = serve(conn, &*route, &seen);
            });
        }
    });
    Stub { url, seen }
}

fn serve(
    conn: TcpStream,
    route: &(dyn Fn(&Request) -> Option<Reply> + Send + Sync),
    seen: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut out = conn;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_string();
        let path = parts.next().unwrap_or_default().to_string();
        let mut headers = BTreeMap::new();
        loop {
            let mut h = String::new();
            reader.read_line(&mut h)?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        let len: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        reader.read_exact(&mut body)?;
        let req = Request {
            method,
            path,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        };
        seen.lock().unwrap().push(req.operation());
        let reply = route(&req).unwrap_or_else(|| {
            Reply::Http(
                404,
                "text/html",
                "<html><body>not served by this stub</body></html>".into(),
            )
        });
        match reply {
            Reply::Silence(d) => {
                std::thread::sleep(d);
                return Ok(());
            }
            Reply::Partial {
                body,
                declared,
                wait,
            } => {
                write!(out, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {declared}\r\nx-amz-request-id: 4442587FB7D0A2F9\r\n\r\n{body}")?;
                out.flush()?;
                std::thread::sleep(wait);
                return Ok(());
            }
            Reply::Http(status, ctype, body) => {
                write!(out, "HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nx-amzn-RequestId: 7a62c49f-347e-4fc4-9331-6e8eEXAMPLE\r\n\r\n{body}", body.len())?;
                out.flush()?;
            }
        }
    }
}
