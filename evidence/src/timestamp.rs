//! RFC 3161 trusted timestamps of checkpoints: the `TimeStampReq` the agent
//! sends, the checks on the `TimeStampResp` it gets back, and the check an
//! auditor's verifier makes on a stored token.
//!
//! The message imprint is SHA-256 of the checkpoint body, exactly the bytes
//! that are signed, so `openssl ts -verify -data checkpoint -in
//! checkpoint.tst -token_in -CAfile tsa-ca.pem` verifies a stored token.
//!
//! This module holds a small hand-written DER reader and writer for the few
//! structures RFC 3161 needs; it does no I/O. It does not check the TSA's CMS
//! signature or certificate chain: that is what `openssl ts -verify` (with
//! the TSA's CA certificate) is for. What it checks is that a token is
//! well-formed, names SHA-256, carries the imprint of the checkpoint body
//! and, for a fresh response, the nonce of the request.

use chrono::{DateTime, NaiveDateTime, Utc};
use sha2::{Digest, Sha256};

/// File name of a stored token next to its checkpoint (`checkpoint.tst`).
pub const TOKEN_FILE: &str = "checkpoint.tst";
/// The media type of a request (RFC 3161 section 3.4).
pub const QUERY_MEDIA_TYPE: &str = "application/timestamp-query";
/// The media type of a response.
pub const REPLY_MEDIA_TYPE: &str = "application/timestamp-reply";

/// DER content of the OID 2.16.840.1.101.3.4.2.1 (SHA-256).
const OID_SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
/// DER content of the OID 1.2.840.113549.1.7.2 (id-signedData).
const OID_SIGNED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02];
/// DER content of the OID 1.2.840.113549.1.9.16.1.4 (id-ct-TSTInfo).
const OID_TST_INFO: &[u8] = &[
    0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x10, 0x01, 0x04,
];

const TAG_BOOLEAN: u8 = 0x01;
const TAG_INTEGER: u8 = 0x02;
const TAG_OCTET_STRING: u8 = 0x04;
const TAG_NULL: u8 = 0x05;
const TAG_OID: u8 = 0x06;
const TAG_UTF8_STRING: u8 = 0x0c;
const TAG_GENERALIZED_TIME: u8 = 0x18;
const TAG_SEQUENCE: u8 = 0x30;
const TAG_SET: u8 = 0x31;
const TAG_CONTEXT_0: u8 = 0xa0;

/// A timestamp error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimestampError {
    /// The bytes are not the DER structure expected.
    #[error("malformed timestamp {what}: {reason}")]
    Malformed {
        /// Which structure (`response`, `token`, `request`).
        what: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The TSA refused the request.
    #[error("the TSA refused the request (PKIStatus {status}{})", text.as_deref().map(|t| format!(": {t}")).unwrap_or_default())]
    Rejected {
        /// The PKIStatus (2 rejection, 3 waiting, 4 revocation warning, 5 revocation notification).
        status: u64,
        /// The TSA's status text, when given.
        text: Option<String>,
    },
    /// The response grants the request but carries no token.
    #[error("the TSA's response carries no timestamp token")]
    NoToken,
    /// The token's imprint is not made with SHA-256.
    #[error("the token's message imprint is not SHA-256")]
    WrongHashAlgorithm,
    /// The token's imprint is not SHA-256 of the checkpoint body.
    #[error(
        "the token's message imprint {found} is not SHA-256 of the checkpoint body ({expected})"
    )]
    ImprintMismatch {
        /// SHA-256 of the body (hex).
        expected: String,
        /// The imprint in the token (hex).
        found: String,
    },
    /// The token answers another request.
    #[error("the token's nonce does not match the request's (a replayed or misdirected answer)")]
    NonceMismatch,
}

/// What a token says (the `TSTInfo` of RFC 3161 section 2.4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// The TSA's policy OID, dotted.
    pub policy: String,
    /// The hashed message of the imprint.
    pub hashed_message: Vec<u8>,
    /// The serial number (hex of its DER content).
    pub serial_hex: String,
    /// When the TSA says it saw the imprint.
    pub gen_time: DateTime<Utc>,
    /// The nonce, when present and at most 128 bits.
    pub nonce: Option<u128>,
}

/// A request to send to a TSA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimestampRequest {
    /// SHA-256 of the data to timestamp.
    pub digest: [u8; 32],
    /// The nonce the response must repeat.
    pub nonce: u64,
    /// The policy asked for, dotted (none: the TSA's default).
    pub policy: Option<String>,
    /// Whether the TSA should include its certificate in the token.
    pub cert_req: bool,
}

impl TimestampRequest {
    /// A request for `data` (a checkpoint body) with a random nonce and
    /// `certReq` true.
    pub fn for_data(data: &[u8], policy: Option<&str>) -> TimestampRequest {
        use rand_core::RngCore;
        TimestampRequest {
            digest: Sha256::digest(data).into(),
            nonce: rand_core::OsRng.next_u64(),
            policy: policy.map(str::to_string),
            cert_req: true,
        }
    }

    /// The DER `TimeStampReq`. Fails only on a malformed policy OID.
    pub fn to_der(&self) -> Result<Vec<u8>, TimestampError> {
        let mut body = Vec::new();
        body.extend(tlv(TAG_INTEGER, &[1]));
        body.extend(message_imprint(&self.digest));
        if let Some(p) = &self.policy {
            body.extend(tlv(TAG_OID, &encode_oid(p)?));
        }
        body.extend(tlv(
            TAG_INTEGER,
            &unsigned_integer(&self.nonce.to_be_bytes()),
        ));
        if self.cert_req {
            body.extend(tlv(TAG_BOOLEAN, &[0xff]));
        }
        Ok(tlv(TAG_SEQUENCE, &body))
    }

    /// Parse a DER `TimeStampReq` with a SHA-256 imprint (for test TSAs and
    /// tools; the agent only writes requests).
    pub fn from_der(der: &[u8]) -> Result<TimestampRequest, TimestampError> {
        let bad = |reason: &str| malformed("request", reason);
        let mut outer = Reader::new(der, "request");
        let mut req = outer.expect(TAG_SEQUENCE)?.reader("request");
        outer.end()?;
        if integer_u128(req.expect(TAG_INTEGER)?.content).ok() != Some(1) {
            return Err(bad("version is not 1"));
        }
        let digest = imprint_sha256(&mut req.expect(TAG_SEQUENCE)?.reader("request"))?;
        let digest: [u8; 32] = digest
            .try_into()
            .map_err(|_| bad("SHA-256 imprint is not 32 bytes"))?;
        let mut out = TimestampRequest {
            digest,
            nonce: 0,
            policy: None,
            cert_req: false,
        };
        let mut nonce = None;
        while let Some(t) = req.next()? {
            match t.tag {
                TAG_OID => out.policy = Some(decode_oid(t.content)?),
                TAG_INTEGER => {
                    nonce = Some(
                        integer_u128(t.content)
                            .ok()
                            .and_then(|n| u64::try_from(n).ok())
                            .ok_or_else(|| bad("nonce is not a 64-bit number"))?,
                    )
                }
                TAG_BOOLEAN => out.cert_req = t.content.first().is_some_and(|b| *b != 0),
                _ => {}
            }
        }
        out.nonce = nonce.ok_or_else(|| bad("no nonce"))?;
        Ok(out)
    }
}

/// Check a TSA's DER `TimeStampResp` to `request`, made for `body`: the
/// status is granted, a token is present, its imprint is SHA-256 of `body`
/// and its nonce is the request's. Returns the token (DER `ContentInfo`, the
/// bytes to store) and what it says.
pub fn check_response(
    response: &[u8],
    request: &TimestampRequest,
    body: &[u8],
) -> Result<(Vec<u8>, TokenInfo), TimestampError> {
    let bad = |reason: &str| malformed("response", reason);
    let mut outer = Reader::new(response, "response");
    let mut resp = outer.expect(TAG_SEQUENCE)?.reader("response");
    outer.end()?;
    let mut status = resp.expect(TAG_SEQUENCE)?.reader("response");
    let code = integer_u128(status.expect(TAG_INTEGER)?.content)
        .map_err(|_| bad("PKIStatus is not a small number"))?;
    let mut text = None;
    while let Some(t) = status.next()? {
        if t.tag == TAG_SEQUENCE {
            // PKIFreeText: a sequence of UTF8Strings; keep the first, printable only.
            let mut strings = t.reader("response");
            if let Some(s) = strings.next()? {
                if s.tag == TAG_UTF8_STRING {
                    text = std::str::from_utf8(s.content)
                        .ok()
                        .map(|s| s.chars().filter(|c| !c.is_control()).take(200).collect());
                }
            }
        }
    }
    if code > 1 {
        return Err(TimestampError::Rejected {
            status: code as u64,
            text,
        });
    }
    let Some(token) = resp.next()? else {
        return Err(TimestampError::NoToken);
    };
    resp.end()?;
    if token.tag != TAG_SEQUENCE {
        return Err(bad("the token is not a SEQUENCE"));
    }
    let token = token.raw.to_vec();
    let info = check_token(&token, body)?;
    if info.nonce != Some(u128::from(request.nonce)) {
        return Err(TimestampError::NonceMismatch);
    }
    Ok((token, info))
}

/// Check a stored token against a checkpoint body: it parses, and its
/// message imprint is SHA-256 of `body`.
pub fn check_token(token: &[u8], body: &[u8]) -> Result<TokenInfo, TimestampError> {
    let info = parse_token(token)?;
    let expected = Sha256::digest(body);
    if info.hashed_message[..] != expected[..] {
        return Err(TimestampError::ImprintMismatch {
            expected: hex::encode(expected),
            found: hex::encode(&info.hashed_message),
        });
    }
    Ok(info)
}

/// Parse a DER token (`ContentInfo` of `SignedData` with a `TSTInfo`).
/// The imprint must be SHA-256. The CMS signature is not checked.
pub fn parse_token(token: &[u8]) -> Result<TokenInfo, TimestampError> {
    let bad = |reason: &str| malformed("token", reason);
    let mut outer = Reader::new(token, "token");
    let mut ci = outer.expect(TAG_SEQUENCE)?.reader("token");
    outer.end()?;
    if ci.expect(TAG_OID)?.content != OID_SIGNED_DATA {
        return Err(bad("not CMS SignedData"));
    }
    let mut explicit = ci.expect(TAG_CONTEXT_0)?.reader("token");
    let mut sd = explicit.expect(TAG_SEQUENCE)?.reader("token");
    sd.expect(TAG_INTEGER)?;
    sd.expect(TAG_SET)?;
    let mut encap = sd.expect(TAG_SEQUENCE)?.reader("token");
    if encap.expect(TAG_OID)?.content != OID_TST_INFO {
        return Err(bad("the signed content is not a TSTInfo"));
    }
    let mut econtent = encap.expect(TAG_CONTEXT_0)?.reader("token");
    let tst = econtent.expect(TAG_OCTET_STRING)?.content;
    let mut outer = Reader::new(tst, "token");
    let mut info = outer.expect(TAG_SEQUENCE)?.reader("token");
    outer.end()?;
    if integer_u128(info.expect(TAG_INTEGER)?.content).ok() != Some(1) {
        return Err(bad("TSTInfo version is not 1"));
    }
    let policy = decode_oid(info.expect(TAG_OID)?.content)?;
    let hashed_message = imprint_sha256(&mut info.expect(TAG_SEQUENCE)?.reader("token"))?;
    let serial_hex = hex::encode(info.expect(TAG_INTEGER)?.content);
    let gen_time = generalized_time(info.expect(TAG_GENERALIZED_TIME)?.content)?;
    let mut nonce = None;
    while let Some(t) = info.next()? {
        if t.tag == TAG_INTEGER {
            nonce = integer_u128(t.content).ok();
        }
    }
    Ok(TokenInfo {
        policy,
        hashed_message,
        serial_hex,
        gen_time,
        nonce,
    })
}

/// Read `SEQUENCE { AlgorithmIdentifier, OCTET STRING }` with SHA-256.
fn imprint_sha256(r: &mut Reader<'_>) -> Result<Vec<u8>, TimestampError> {
    let what = r.what;
    let mut alg = r.expect(TAG_SEQUENCE)?.reader(what);
    if alg.expect(TAG_OID)?.content != OID_SHA256 {
        return Err(TimestampError::WrongHashAlgorithm);
    }
    if let Some(p) = alg.next()? {
        if p.tag != TAG_NULL || !p.content.is_empty() {
            return Err(malformed(what, "SHA-256 parameters are not NULL"));
        }
    }
    alg.end()?;
    let hashed = r.expect(TAG_OCTET_STRING)?.content.to_vec();
    r.end()?;
    if hashed.len() != 32 {
        return Err(malformed(what, "SHA-256 imprint is not 32 bytes"));
    }
    Ok(hashed)
}

fn malformed(what: &'static str, reason: &str) -> TimestampError {
    TimestampError::Malformed {
        what,
        reason: reason.to_string(),
    }
}

fn message_imprint(digest: &[u8; 32]) -> Vec<u8> {
    let mut alg = tlv(TAG_OID, OID_SHA256);
    alg.extend(tlv(TAG_NULL, &[]));
    let mut mi = tlv(TAG_SEQUENCE, &alg);
    mi.extend(tlv(TAG_OCTET_STRING, digest));
    tlv(TAG_SEQUENCE, &mi)
}

/// One DER element.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes = (n as u64).to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (8 - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// The DER content of a non-negative INTEGER from big-endian magnitude bytes.
fn unsigned_integer(be: &[u8]) -> Vec<u8> {
    let skip = be.iter().take_while(|b| **b == 0).count();
    let mut out = Vec::new();
    match be.get(skip) {
        None => out.push(0),
        Some(first) => {
            if first & 0x80 != 0 {
                out.push(0);
            }
            out.extend_from_slice(&be[skip..]);
        }
    }
    out
}

/// A non-negative INTEGER of at most 128 bits.
fn integer_u128(content: &[u8]) -> Result<u128, ()> {
    if content.is_empty() || content[0] & 0x80 != 0 {
        return Err(());
    }
    let magnitude = match content {
        [0, rest @ ..] => rest,
        all => all,
    };
    if magnitude.len() > 16 {
        return Err(());
    }
    Ok(magnitude
        .iter()
        .fold(0u128, |acc, b| (acc << 8) | u128::from(*b)))
}

fn encode_oid(dotted: &str) -> Result<Vec<u8>, TimestampError> {
    let bad = || malformed("request", &format!("{dotted:?} is not a dotted OID"));
    let arcs: Vec<u64> = dotted
        .split('.')
        .map(|a| {
            a.parse::<u64>()
                .ok()
                .filter(|_| !a.is_empty() && (a == "0" || !a.starts_with('0')))
        })
        .collect::<Option<_>>()
        .ok_or_else(bad)?;
    if arcs.len() < 2 || arcs[0] > 2 || (arcs[0] < 2 && arcs[1] > 39) {
        return Err(bad());
    }
    let first = arcs[0]
        .checked_mul(40)
        .and_then(|v| v.checked_add(arcs[1]))
        .ok_or_else(bad)?;
    let mut out = Vec::new();
    for arc in std::iter::once(first).chain(arcs[2..].iter().copied()) {
        let mut groups = vec![(arc & 0x7f) as u8];
        let mut v = arc >> 7;
        while v > 0 {
            groups.push(0x80 | (v & 0x7f) as u8);
            v >>= 7;
        }
        out.extend(groups.iter().rev());
    }
    Ok(out)
}

fn decode_oid(content: &[u8]) -> Result<String, TimestampError> {
    let bad = || malformed("token", "malformed OID");
    let mut arcs: Vec<u64> = Vec::new();
    let mut v: u64 = 0;
    let mut pending = false;
    for b in content {
        if !pending && *b == 0x80 {
            return Err(bad());
        }
        v = v.checked_mul(128).ok_or_else(bad)? | u64::from(b & 0x7f);
        pending = b & 0x80 != 0;
        if !pending {
            arcs.push(v);
            v = 0;
        }
    }
    if pending || arcs.is_empty() {
        return Err(bad());
    }
    let first = arcs[0];
    let (a, b) = match first {
        0..=39 => (0, first),
        40..=79 => (1, first - 40),
        _ => (2, first - 80),
    };
    let mut s = format!("{a}.{b}");
    for arc in &arcs[1..] {
        s.push('.');
        s.push_str(&arc.to_string());
    }
    Ok(s)
}

/// `YYYYMMDDHHMMSS[.fraction]Z`.
fn generalized_time(content: &[u8]) -> Result<DateTime<Utc>, TimestampError> {
    let bad = || malformed("token", "genTime is not a UTC GeneralizedTime");
    let s = std::str::from_utf8(content).map_err(|_| bad())?;
    let s = s.strip_suffix('Z').ok_or_else(bad)?;
    let (whole, fraction) = s.split_once('.').unwrap_or((s, ""));
    if whole.len() != 14 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    NaiveDateTime::parse_from_str(whole, "%Y%m%d%H%M%S")
        .map(|t| t.and_utc())
        .map_err(|_| bad())
}

/// One element read: its tag, content, and the whole encoding.
#[derive(Debug, Clone, Copy)]
struct Tlv<'a> {
    tag: u8,
    content: &'a [u8],
    raw: &'a [u8],
}

impl<'a> Tlv<'a> {
    fn reader(&self, what: &'static str) -> Reader<'a> {
        Reader::new(self.content, what)
    }
}

/// Reads DER elements one after another (definite lengths, one-byte tags).
struct Reader<'a> {
    rest: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8], what: &'static str) -> Reader<'a> {
        Reader { rest: bytes, what }
    }

    fn next(&mut self) -> Result<Option<Tlv<'a>>, TimestampError> {
        let bad = |reason: &str| malformed(self.what, reason);
        let input = self.rest;
        let Some((&tag, after)) = input.split_first() else {
            return Ok(None);
        };
        if tag & 0x1f == 0x1f {
            return Err(bad("multi-byte tags are not supported"));
        }
        let Some((&first, mut after)) = after.split_first() else {
            return Err(bad("truncated length"));
        };
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 {
                return Err(bad("indefinite lengths are not DER"));
            }
            if n > 4 || after.len() < n {
                return Err(bad("length too large or truncated"));
            }
            let len = after[..n]
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
            after = &after[n..];
            len
        };
        if after.len() < len {
            return Err(bad("truncated element"));
        }
        let header = input.len() - after.len();
        let (content, rest) = after.split_at(len);
        self.rest = rest;
        Ok(Some(Tlv {
            tag,
            content,
            raw: &input[..header + len],
        }))
    }

    fn expect(&mut self, tag: u8) -> Result<Tlv<'a>, TimestampError> {
        match self.next()? {
            Some(t) if t.tag == tag => Ok(t),
            Some(t) => Err(malformed(
                self.what,
                &format!("expected tag 0x{tag:02x}, found 0x{:02x}", t.tag),
            )),
            None => Err(malformed(
                self.what,
                &format!("expected tag 0x{tag:02x}, found the end"),
            )),
        }
    }

    fn end(&self) -> Result<(), TimestampError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(malformed(self.what, "trailing bytes"))
        }
    }
}

#[cfg(test)]
pub(crate) mod test_tsa {
    //! A real TSA for tests: `openssl ts -reply` with a throwaway CA.

    use std::path::{Path, PathBuf};
    use std::process::Command;

    /// A CA and a TSA certificate (extendedKeyUsage critical, timeStamping)
    /// in a temp dir, with an openssl config whose `tsa` section signs.
    pub struct OpensslTsa {
        pub dir: tempfile::TempDir,
    }

    fn run(cmd: &mut Command) {
        let o = cmd.output().expect("run openssl");
        assert!(
            o.status.success(),
            "{cmd:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }

    impl OpensslTsa {
        pub fn new() -> OpensslTsa {
            let dir = tempfile::tempdir().expect("tempdir");
            let d = dir.path();
            std::fs::write(d.join("serial"), "01\n").expect("serial");
            std::fs::write(
                d.join("tsa.ext"),
                "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=critical,timeStamping\n",
            )
            .expect("ext");
            std::fs::write(
                d.join("tsa.cnf"),
                format!(
                    "[ tsa ]\ndefault_tsa = tsa_config\n\n[ tsa_config ]\ndir = {}\nserial = $dir/serial\nsigner_cert = $dir/tsa.crt\ncerts = $dir/ca.crt\nsigner_key = $dir/tsa.key\nsigner_digest = sha256\ndefault_policy = 1.2.3.4.1\nother_policies = 1.2.3.4.5\ndigests = sha256, sha384, sha512\naccuracy = secs:1\nordering = yes\ntsa_name = yes\ness_cert_id_chain = no\ness_cert_id_alg = sha256\n",
                    d.display()
                ),
            )
            .expect("cnf");
            let openssl = || {
                let mut c = Command::new("openssl");
                c.current_dir(d);
                c
            };
            run(openssl().args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
                "-days",
                "2",
                "-subj",
                "/CN=evident test TSA CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign",
            ]));
            run(openssl().args([
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "tsa.key",
                "-out",
                "tsa.csr",
                "-subj",
                "/CN=evident test TSA",
            ]));
            run(openssl().args([
                "x509",
                "-req",
                "-in",
                "tsa.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "tsa.crt",
                "-days",
                "2",
                "-extfile",
                "tsa.ext",
            ]));
            OpensslTsa { dir }
        }

        pub fn ca(&self) -> PathBuf {
            self.dir.path().join("ca.crt")
        }

        /// The DER response of `openssl ts -reply` to a DER query.
        pub fn reply(&self, query: &[u8]) -> Vec<u8> {
            let d = self.dir.path();
            let q = tempfile::NamedTempFile::new_in(d).expect("query file");
            std::fs::write(q.path(), query).expect("write query");
            let out = d.join(format!("reply-{}.tsr", std::process::id()));
            run(Command::new("openssl")
                .args(["ts", "-reply", "-config"])
                .arg(d.join("tsa.cnf"))
                .arg("-queryfile")
                .arg(q.path())
                .arg("-out")
                .arg(&out));
            let bytes = std::fs::read(&out).expect("reply");
            let _ = std::fs::remove_file(&out);
            bytes
        }

        /// Whether `openssl ts -verify` accepts `token` for `data`.
        pub fn openssl_verifies(&self, data: &Path, token: &Path) -> bool {
            Command::new("openssl")
                .args(["ts", "-verify", "-data"])
                .arg(data)
                .arg("-in")
                .arg(token)
                .arg("-token_in")
                .arg("-CAfile")
                .arg(self.ca())
                .output()
                .expect("openssl ts -verify")
                .status
                .success()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_tsa::OpensslTsa;
    use super::*;

    const BODY: &[u8] = b"evident-checkpoint/v1\nagent a\nsize 1\n";

    #[test]
    fn oids_round_trip() {
        for oid in [
            "1.2.3.4.1",
            "2.16.840.1.101.3.4.2.1",
            "1.2.840.113549.1.9.16.1.4",
            "2.999.1",
        ] {
            let der = encode_oid(oid).expect("encode");
            assert_eq!(decode_oid(&der).expect("decode"), oid);
        }
        assert_eq!(
            encode_oid("2.16.840.1.101.3.4.2.1").expect("oid"),
            OID_SHA256
        );
        for bad in ["", "1", "1.", "3.1", "1.40", "1.02", "a.b"] {
            assert!(encode_oid(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn request_round_trips_and_integers_are_minimal() {
        let mut r = TimestampRequest::for_data(BODY, Some("1.2.3.4.5"));
        for nonce in [0, 1, 0x7f, 0x80, 0xff, u64::MAX] {
            r.nonce = nonce;
            let der = r.to_der().expect("der");
            assert_eq!(TimestampRequest::from_der(&der).expect("parse"), r);
        }
        assert_eq!(unsigned_integer(&[0, 0, 0x80]), vec![0, 0x80]);
        assert_eq!(unsigned_integer(&[0, 0]), vec![0]);
        assert_eq!(integer_u128(&[0, 0x80]), Ok(0x80));
        assert!(integer_u128(&[0x80]).is_err(), "negative");
        assert!(TimestampRequest::from_der(&[0x30, 0x80, 0, 0]).is_err());
    }

    #[test]
    fn a_real_tsa_token_checks_and_verifies_with_openssl() {
        let tsa = OpensslTsa::new();
        let req = TimestampRequest::for_data(BODY, None);
        let resp = tsa.reply(&req.to_der().expect("der"));
        let (token, info) = check_response(&resp, &req, BODY).expect("granted");
        assert_eq!(info.policy, "1.2.3.4.1");
        assert_eq!(info.nonce, Some(u128::from(req.nonce)));
        assert!((Utc::now() - info.gen_time).num_minutes().abs() < 5);
        check_token(&token, BODY).expect("stored token checks");
        let d = tempfile::tempdir().expect("tempdir");
        std::fs::write(d.path().join("checkpoint"), BODY).expect("body");
        std::fs::write(d.path().join("checkpoint.tst"), &token).expect("token");
        assert!(tsa.openssl_verifies(
            &d.path().join("checkpoint"),
            &d.path().join("checkpoint.tst")
        ));

        // The same token for other bytes: wrong imprint, for us and for openssl.
        let err = check_token(&token, b"another body\n").expect_err("wrong imprint");
        assert!(
            matches!(err, TimestampError::ImprintMismatch { .. }),
            "{err}"
        );
        std::fs::write(d.path().join("other"), b"another body\n").expect("other");
        assert!(!tsa.openssl_verifies(&d.path().join("other"), &d.path().join("checkpoint.tst")));
        // A response to another request (other nonce) is refused.
        let mut other = req.clone();
        other.nonce = req.nonce.wrapping_add(1);
        assert_eq!(
            check_response(&resp, &other, BODY).expect_err("nonce"),
            TimestampError::NonceMismatch
        );
        // A response for other data is refused on its imprint.
        assert!(matches!(
            check_response(&resp, &req, b"x").expect_err("imprint"),
            TimestampError::ImprintMismatch { .. }
        ));
        // Any truncation is malformed, never a panic.
        for n in [0, 1, 10, resp.len() / 2, resp.len() - 1] {
            assert!(check_response(&resp[..n], &req, BODY).is_err(), "{n}");
        }
        for n in [0, 5, token.len() - 1] {
            assert!(check_token(&token[..n], BODY).is_err(), "{n}");
        }
    }

    #[test]
    fn rejections_and_garbage_are_errors() {
        // PKIStatusInfo { status 2 (rejection), statusString { "bad request" } }.
        let mut text = tlv(TAG_UTF8_STRING, b"bad request");
        text = tlv(TAG_SEQUENCE, &text);
        let mut status = tlv(TAG_INTEGER, &[2]);
        status.extend(text);
        let resp = tlv(TAG_SEQUENCE, &tlv(TAG_SEQUENCE, &status));
        let req = TimestampRequest::for_data(BODY, None);
        assert_eq!(
            check_response(&resp, &req, BODY).expect_err("rejected"),
            TimestampError::Rejected {
                status: 2,
                text: Some("bad request".into())
            }
        );
        // Granted without a token.
        let resp = tlv(TAG_SEQUENCE, &tlv(TAG_SEQUENCE, &tlv(TAG_INTEGER, &[0])));
        assert_eq!(
            check_response(&resp, &req, BODY).expect_err("no token"),
            TimestampError::NoToken
        );
        for garbage in [
            &b"<html>502 Bad Gateway</html>"[..],
            b"",
            &[0x30, 0x05, 0x02],
        ] {
            assert!(matches!(
                check_response(garbage, &req, BODY),
                Err(TimestampError::Malformed { .. })
            ));
        }
        assert!(generalized_time(b"20260101120000Z").is_ok());
        assert!(generalized_time(b"20260101120000.123Z").is_ok());
        assert!(generalized_time(b"20260101120000").is_err());
        assert!(generalized_time(b"2026010112Z").is_err());
    }
}
