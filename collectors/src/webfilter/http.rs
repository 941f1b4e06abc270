//! One HTTP/1.1 request through a forward proxy over a plain `TcpStream`:
//! `GET http://host/path` in absolute form for `http://` URLs, `CONNECT
//! host:443` for `https://` URLs (a proxy that filters HTTPS decides on the
//! CONNECT; a 200 means the tunnel would be opened, and it is closed at once).
//! Hand-written because the probe only needs the status line and a marker in
//! the body, and a client library would follow redirects, use system proxy
//! settings or negotiate TLS, all of which would hide what the proxy did.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// At most this much of a response is read.
const MAX_RESPONSE: usize = 256 * 1024;

/// Why a request got no usable response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The URL is not `http://` or `https://` with a host.
    #[error("unsupported URL {0:?} (http:// or https:// with a host)")]
    BadUrl(String),
    /// The proxy could not be reached or the connection failed.
    #[error("{0}")]
    Io(String),
    /// No status line came back.
    #[error("no HTTP response: {0}")]
    NoResponse(&'static str),
}

/// A response seen through the proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyResponse {
    /// The HTTP status.
    pub status: u16,
    /// Whether the block marker appeared in the response.
    pub marker_seen: bool,
}

/// The parts of a URL the request needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// Whether it is `https://`.
    pub tls: bool,
    /// `host:port` (port defaulted).
    pub authority: String,
    /// Path and query, at least `/`.
    pub path: String,
}

/// Parse `http://host[:port]/path` or `https://…`.
pub fn parse_url(url: &str) -> Result<Url, HttpError> {
    let bad = || HttpError::BadUrl(url.into());
    let (tls, rest) = if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else {
        return Err(bad());
    };
    let (auth, path) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let path = if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_string()
    };
    if auth.is_empty()
        || auth.contains('@')
        || auth.contains(char::is_whitespace)
        || path.contains(char::is_whitespace)
    {
        return Err(bad());
    }
    let has_port = if auth.starts_with('[') {
        auth.contains("]:")
    } else {
        auth.contains(':')
    };
    let authority = if has_port {
        auth.to_string()
    } else {
        format!("{auth}:{}", if tls { 443 } else { 80 })
    };
    Ok(Url {
        tls,
        authority,
        path,
    })
}

/// The request line and headers for `url` through a proxy.
pub fn request_bytes(url: &Url) -> Vec<u8> {
    if url.tls {
        format!(
            "CONNECT {a} HTTP/1.1\r\nHost: {a}\r\nUser-Agent: evident-webfilter-probe\r\n\r\n",
            a = url.authority
        )
        .into_bytes()
    } else {
        format!(
            "GET http://{a}{p} HTTP/1.1\r\nHost: {a}\r\nUser-Agent: evident-webfilter-probe\r\nAccept: */*\r\nConnection: close\r\n\r\n",
            a = url.authority,
            p = url.path
        )
        .into_bytes()
    }
}

/// The status code of a response's status line.
pub fn parse_status(head: &[u8]) -> Option<u16> {
    let line = head.split(|b| *b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?.trim_end();
    let mut parts = line.split(' ');
    if !parts.next()?.starts_with("HTTP/1.") {
        return None;
    }
    let code = parts.next()?;
    if code.len() != 3 {
        return None;
    }
    code.parse().ok()
}

/// Request `url` through the proxy at `proxy` (`host:port`).
pub fn fetch(
    proxy: &str,
    url: &str,
    marker: Option<&str>,
    timeout: Duration,
) -> Result<ProxyResponse, HttpError> {
    let parsed = parse_url(url)?;
    let io = |e: std::io::Error| HttpError::Io(format!("proxy {proxy}: {e}"));
    let addr = proxy
        .to_socket_addrs()
        .map_err(io)?
        .next()
        .ok_or_else(|| HttpError::Io(format!("proxy {proxy}: no address")))?;
    let deadline = Instant::now() + timeout;
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(io)?;
    stream.set_write_timeout(Some(timeout)).map_err(io)?;
    stream.write_all(&request_bytes(&parsed)).map_err(io)?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        stream.set_read_timeout(Some(left)).map_err(io)?;
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                // A CONNECT answer is only a head; an accepted tunnel stays open.
                if parsed.tls && buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    let status = parse_status(&buf);
                    if status == Some(200) {
                        break;
                    }
                }
                if buf.len() >= MAX_RESPONSE {
                    break;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break
            }
            Err(e) if buf.is_empty() => return Err(io(e)),
            Err(_) => break,
        }
    }
    let status = parse_status(&buf).ok_or(if buf.is_empty() {
        HttpError::NoResponse("connection closed or timed out before a status line")
    } else {
        HttpError::NoResponse("not an HTTP/1.x status line")
    })?;
    let marker_seen =
        marker.is_some_and(|m| !m.is_empty() && buf.windows(m.len()).any(|w| w == m.as_bytes()));
    Ok(ProxyResponse {
        status,
        marker_seen,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let u = parse_url("http://127.0.0.1:8080/blocked/x?y=1").unwrap();
        assert_eq!(
            (u.tls, u.authority.as_str(), u.path.as_str()),
            (false, "127.0.0.1:8080", "/blocked/x?y=1")
        );
        let u = parse_url("https://casino.example").unwrap();
        assert_eq!(
            (u.tls, u.authority.as_str(), u.path.as_str()),
            (true, "casino.example:443", "/")
        );
        let u = parse_url("http://[::1]/a").unwrap();
        assert_eq!(u.authority, "[::1]:80");
        let u = parse_url("http://[::1]:81/a").unwrap();
        assert_eq!(u.authority, "[::1]:81");
        assert!(parse_url("ftp://x/").is_err());
        assert!(parse_url("http://user:pw@x/").is_err());
        assert!(parse_url("http:///a").is_err());
    }

    #[test]
    fn writes_absolute_form_and_connect() {
        let r =
            String::from_utf8(request_bytes(&parse_url("http://a.example/p").unwrap())).unwrap();
        assert!(
            r.starts_with("GET http://a.example:80/p HTTP/1.1\r\nHost: a.example:80\r\n"),
            "{r}"
        );
        let r =
            String::from_utf8(request_bytes(&parse_url("https://a.example/p").unwrap())).unwrap();
        assert!(r.starts_with("CONNECT a.example:443 HTTP/1.1\r\n"), "{r}");
    }

    #[test]
    fn parses_status_lines() {
        assert_eq!(parse_status(b"HTTP/1.1 403 Forbidden\r\n"), Some(403));
        assert_eq!(parse_status(b"HTTP/1.0 200 OK\r\n\r\nbody"), Some(200));
        assert_eq!(parse_status(b"SSH-2.0-OpenSSH\r\n"), None);
        assert_eq!(parse_status(b"HTTP/1.1 20 OK\r\n"), None);
    }
}
