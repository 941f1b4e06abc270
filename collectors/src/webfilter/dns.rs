//! A minimal DNS client over UDP (RFC 1035): one question of type A or AAAA,
//! the response code and the addresses in the answer section. Hand-written
//! because the probe needs exactly this and no resolver library lets a
//! caller see REFUSED or a sinkhole answer as data rather than as an error.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// Record type A.
pub const TYPE_A: u16 = 1;
/// Record type AAAA.
pub const TYPE_AAAA: u16 = 28;

/// Why a query got no usable response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DnsError {
    /// The name cannot be encoded (empty or too long label, too long name).
    #[error("invalid name {0:?}")]
    InvalidName(String),
    /// The response does not parse or does not answer the query.
    #[error("malformed response: {0}")]
    Malformed(&'static str),
    /// No response within the timeout.
    #[error("no response within {0} ms")]
    Timeout(u128),
    /// A socket error.
    #[error("{0}")]
    Io(String),
}

/// A parsed response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsResponse {
    /// The response code (0 NOERROR, 3 NXDOMAIN, 5 REFUSED, …).
    pub rcode: u8,
    /// A and AAAA addresses in the answer section, in order.
    pub addresses: Vec<IpAddr>,
}

/// The conventional name of a response code.
pub fn rcode_name(rcode: u8) -> String {
    match rcode {
        0 => "NOERROR".into(),
        1 => "FORMERR".into(),
        2 => "SERVFAIL".into(),
        3 => "NXDOMAIN".into(),
        4 => "NOTIMP".into(),
        5 => "REFUSED".into(),
        n => format!("RCODE{n}"),
    }
}

/// Encode a query with recursion desired.
pub fn build_query(id: u16, name: &str, qtype: u16) -> Result<Vec<u8>, DnsError> {
    let name = name.trim_end_matches('.');
    if name.is_empty() || name.len() > 253 {
        return Err(DnsError::InvalidName(name.into()));
    }
    let mut out = Vec::with_capacity(18 + name.len());
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.') {
        let len = u8::try_from(label.len())
            .ok()
            .filter(|l| (1..=63).contains(l))
            .ok_or_else(|| DnsError::InvalidName(name.into()))?;
        out.push(len);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out.extend_from_slice(&qtype.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    Ok(out)
}

fn u16_at(buf: &[u8], at: usize) -> Result<u16, DnsError> {
    buf.get(at..at + 2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]))
        .ok_or(DnsError::Malformed("truncated"))
}

/// Skip a possibly compressed name starting at `at`; the offset after it.
fn skip_name(buf: &[u8], mut at: usize) -> Result<usize, DnsError> {
    loop {
        let len = *buf.get(at).ok_or(DnsError::Malformed("truncated name"))?;
        match len {
            0 => return Ok(at + 1),
            l if l & 0xC0 == 0xC0 => return Ok(at + 2),
            l if l & 0xC0 == 0 => at += 1 + usize::from(l),
            _ => return Err(DnsError::Malformed("bad label")),
        }
    }
}

/// Parse the response to query `id`.
pub fn parse_response(buf: &[u8], id: u16) -> Result<DnsResponse, DnsError> {
    if buf.len() < 12 {
        return Err(DnsError::Malformed("shorter than a header"));
    }
    if u16_at(buf, 0)? != id {
        return Err(DnsError::Malformed("id does not match the query"));
    }
    let flags = u16_at(buf, 2)?;
    if flags & 0x8000 == 0 {
        return Err(DnsError::Malformed("not a response"));
    }
    let rcode = (flags & 0x000F) as u8;
    let qd = u16_at(buf, 4)?;
    let an = u16_at(buf, 6)?;
    let mut at = 12;
    for _ in 0..qd {
        at = skip_name(buf, at)? + 4;
    }
    let mut addresses = Vec::new();
    for _ in 0..an {
        at = skip_name(buf, at)?;
        let rtype = u16_at(buf, at)?;
        let rdlen = usize::from(u16_at(buf, at + 8)?);
        let rdata = buf
            .get(at + 10..at + 10 + rdlen)
            .ok_or(DnsError::Malformed("truncated record"))?;
        match (rtype, rdata.len()) {
            (TYPE_A, 4) => addresses.push(IpAddr::V4(Ipv4Addr::new(
                rdata[0], rdata[1], rdata[2], rdata[3],
            ))),
            (TYPE_AAAA, 16) => {
                let mut b = [0u8; 16];
                b.copy_from_slice(rdata);
                addresses.push(IpAddr::V6(Ipv6Addr::from(b)));
            }
            (TYPE_A, _) | (TYPE_AAAA, _) => return Err(DnsError::Malformed("bad address length")),
            _ => {}
        }
        at += 10 + rdlen;
    }
    if flags & 0x0200 != 0 && addresses.is_empty() && rcode == 0 {
        return Err(DnsError::Malformed(
            "truncated response (TC) without answers",
        ));
    }
    Ok(DnsResponse { rcode, addresses })
}

/// An unpredictable query id.
fn query_id() -> u16 {
    let mut h = RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    (h.finish() & 0xFFFF) as u16
}

/// Ask `server` for `name` of type `qtype`, waiting at most `timeout`.
pub fn query(
    server: SocketAddr,
    name: &str,
    qtype: u16,
    timeout: Duration,
) -> Result<DnsResponse, DnsError> {
    let id = query_id();
    let packet = build_query(id, name, qtype)?;
    let local: SocketAddr = if server.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let io = |e: std::io::Error| DnsError::Io(e.to_string());
    let sock = UdpSocket::bind(local).map_err(io)?;
    sock.connect(server).map_err(io)?;
    sock.send(&packet).map_err(io)?;
    let deadline = Instant::now() + timeout;
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(DnsError::Timeout(timeout.as_millis()));
        }
        sock.set_read_timeout(Some(left)).map_err(io)?;
        match sock.recv(&mut buf) {
            Ok(n) => match parse_response(&buf[..n], id) {
                // A stray datagram with another id: keep waiting.
                Err(DnsError::Malformed("id does not match the query")) => continue,
                other => return other,
            },
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(DnsError::Timeout(timeout.as_millis()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                return Err(DnsError::Io("connection refused (nothing listens)".into()))
            }
            Err(e) => return Err(io(e)),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn builds_a_query() {
        let q = build_query(0xBEEF, "bad.example.", TYPE_A).unwrap();
        assert_eq!(&q[..4], &[0xBE, 0xEF, 0x01, 0x00]);
        assert_eq!(&q[12..], b"\x03bad\x07example\x00\x00\x01\x00\x01");
        assert!(build_query(1, "a..b", TYPE_A).is_err());
        assert!(build_query(1, &"x".repeat(64), TYPE_A).is_err());
        assert!(build_query(1, "", TYPE_A).is_err());
    }

    /// A response as a server writes it: the question echoed, then answers
    /// whose names are compression pointers to the question (offset 12).
    fn response(id: u16, rcode: u8, answers: &[(u16, &[u8])]) -> Vec<u8> {
        let mut r = build_query(id, "good.example", TYPE_A).unwrap();
        r[2] = 0x81;
        r[3] = 0x80 | rcode;
        r[7] = answers.len() as u8;
        for (t, data) in answers {
            r.extend_from_slice(&[0xC0, 12]);
            r.extend_from_slice(&t.to_be_bytes());
            r.extend_from_slice(&[0, 1, 0, 0, 0, 60]);
            r.extend_from_slice(&(data.len() as u16).to_be_bytes());
            r.extend_from_slice(data);
        }
        r
    }

    #[test]
    fn parses_answers_rcodes_and_skips_other_records() {
        let v6 = Ipv6Addr::LOCALHOST.octets();
        let r = response(
            7,
            0,
            &[
                (5, b"\x03foo\x00"),
                (TYPE_A, &[127, 0, 0, 1]),
                (TYPE_AAAA, &v6),
            ],
        );
        let p = parse_response(&r, 7).unwrap();
        assert_eq!(p.rcode, 0);
        assert_eq!(
            p.addresses,
            vec![
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(Ipv6Addr::LOCALHOST)
            ]
        );
        let p = parse_response(&response(7, 3, &[]), 7).unwrap();
        assert_eq!(rcode_name(p.rcode), "NXDOMAIN");
        assert_eq!(
            rcode_name(parse_response(&response(7, 5, &[]), 7).unwrap().rcode),
            "REFUSED"
        );
    }

    #[test]
    fn rejects_malformed_responses() {
        let r = response(7, 0, &[(TYPE_A, &[127, 0, 0, 1])]);
        assert!(parse_response(&r, 8).is_err(), "wrong id");
        assert!(parse_response(&r[..r.len() - 2], 7).is_err(), "truncated");
        assert!(parse_response(&r[..10], 7).is_err(), "short header");
        let mut q = r.clone();
        q[2] = 0x01;
        assert!(parse_response(&q, 7).is_err(), "a query, not a response");
        let bad = response(7, 0, &[(TYPE_A, &[1, 2, 3])]);
        assert!(parse_response(&bad, 7).is_err(), "bad A length");
    }
}
