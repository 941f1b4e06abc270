//! Validators and context rules that turn pattern matches into findings.

use crate::rules::Validator;

/// Shannon entropy of the bytes, in bits per byte.
pub fn entropy(v: &[u8]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &b in v {
        counts[usize::from(b)] += 1;
    }
    let n = v.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

/// Run one validator on a value.
pub fn check(v: Validator, value: &[u8]) -> bool {
    match v {
        Validator::NotPlaceholder => !is_placeholder(value),
        Validator::MixedCaseDigits => mixed(value),
        Validator::PaymentCard => payment_card(value),
        Validator::Iban => iban(value),
        Validator::Email => email(value),
        Validator::UsSsn => us_ssn(value),
        Validator::Jwt => jwt(value),
        Validator::NotIdentifier => !is_identifier(value),
        // Needs the context: see [`in_number_table`].
        Validator::NotInNumberTable => true,
    }
}

/// Code rather than a secret: CONSTANT_CASE, CamelCase, snake_case names, or
/// a value naming what it stands for.
pub fn is_identifier(value: &[u8]) -> bool {
    let lower = value.to_ascii_lowercase();
    if ["password", "secret", "token"]
        .iter()
        .any(|w| memchr::memmem::find(&lower, w.as_bytes()).is_some())
    {
        return true;
    }
    // Comment and punctuation around a name (`*/NAME,`) do not make it a secret.
    let value = value.trim_ascii();
    let start = value
        .iter()
        .position(u8::is_ascii_alphanumeric)
        .unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(u8::is_ascii_alphanumeric)
        .map_or(start, |i| i + 1);
    let value = &value[start..end];
    if value.is_empty()
        || !value
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'_')
    {
        return false;
    }
    let has_lower = value.iter().any(u8::is_ascii_lowercase);
    let has_upper = value.iter().any(u8::is_ascii_uppercase);
    let underscores = value.iter().filter(|&&b| b == b'_').count();
    // CONSTANT_CASE or snake_case with words.
    if underscores > 0 && !(has_lower && has_upper) {
        return true;
    }
    // CamelCase (acronyms allowed): every run of lower-case letters is at
    // least two long, and there are two or more. Random strings have many
    // single lower-case letters between capitals and digits.
    let mut runs = 0;
    let mut run = 0;
    for &b in value.iter().chain(std::iter::once(&b' ')) {
        if b.is_ascii_lowercase() {
            run += 1;
        } else {
            if run == 1 {
                return false;
            }
            if run >= 2 {
                runs += 1;
            }
            run = 0;
        }
    }
    runs >= 2
}

/// Whether the match at `start..end` sits in a table of numbers, as in
/// source-code constants: its line holds no letters, and that line or the
/// lines next to it hold other runs of ten or more digits.
pub fn in_number_table(buf: &[u8], start: usize, end: usize) -> bool {
    let line_start = memchr::memrchr(b'\n', &buf[..start]).map_or(0, |i| i + 1);
    let line_end = memchr::memchr(b'\n', &buf[end..]).map_or(buf.len(), |i| end + i);
    let line = &buf[line_start..line_end];
    // Comment markers and separators only; any letter means prose or a record.
    if line.iter().any(u8::is_ascii_alphabetic) {
        return false;
    }
    let prev_start =
        memchr::memrchr(b'\n', &buf[..line_start.saturating_sub(1)]).map_or(0, |i| i + 1);
    let next_end = if line_end < buf.len() {
        memchr::memchr(b'\n', &buf[line_end + 1..]).map_or(buf.len(), |i| line_end + 1 + i)
    } else {
        buf.len()
    };
    let mut others = 0;
    let mut run = 0;
    for (i, &b) in buf[prev_start..next_end].iter().enumerate() {
        let at = prev_start + i;
        if b.is_ascii_digit() && !(start..end).contains(&at) {
            run += 1;
        } else {
            if run >= 10 {
                others += 1;
            }
            run = 0;
        }
    }
    if run >= 10 {
        others += 1;
    }
    others >= 1
}

/// Words that mark a value as a placeholder or documentation example.
const PLACEHOLDER_WORDS: &[&str] = &[
    "example",
    "sample",
    "placeholder",
    "changeme",
    "change_me",
    "your_",
    "your-",
    "yourkey",
    "xxxxxx",
    "dummy",
    "redacted",
    "insert_",
    "replace_me",
    "fake",
];

/// A run of at least this many consecutive characters (`abcd`, `6789`,
/// `zyxw`) is typed, not drawn at random.
const SEQUENCE_RUN: usize = 4;

/// A placeholder: template markers, placeholder words, or a value whose
/// alphanumeric body (after a known prefix) is one or two repeated
/// characters, or essentially a typed sequence (`abcdefghij0123456789…`).
/// A sequence inside an otherwise random body does not make a placeholder:
/// the random rest is what a real token looks like.
pub fn is_placeholder(value: &[u8]) -> bool {
    let lower = value.to_ascii_lowercase();
    if PLACEHOLDER_WORDS
        .iter()
        .any(|w| memchr::memmem::find(&lower, w.as_bytes()).is_some())
    {
        return true;
    }
    if [&b"${"[..], b"{{", b"<", b">", b"%s", b"$("]
        .iter()
        .any(|m| memchr::memmem::find(value, m).is_some())
    {
        return true;
    }
    // The distinct alphanumeric characters after the last separator of a
    // prefix (`ghp_`, `sk_live_`, `AKIA`): all-X, all-0, all-* bodies.
    let body_start = value
        .iter()
        .rposition(|&b| b == b'_' || b == b'-')
        .map(|i| i + 1)
        .filter(|&i| value.len() - i >= 8)
        .unwrap_or(0);
    let body = &value[body_start..];
    let body = if body.starts_with(b"AKIA") || body.starts_with(b"ASIA") {
        &body[4..]
    } else {
        body
    };
    let mut distinct = [false; 256];
    let mut n = 0;
    for &b in body {
        if !distinct[usize::from(b)] {
            distinct[usize::from(b)] = true;
            n += 1;
        }
    }
    n <= 2 || mostly_sequential(body)
}

/// Whether fewer than a quarter of the body's characters lie outside runs
/// of [`SEQUENCE_RUN`] or more consecutive letters or digits, ascending or
/// descending (case ignored): `abcdefghij0123456789abcdefghij012345` is;
/// 20 sequential characters amid 16 random ones are not.
fn mostly_sequential(body: &[u8]) -> bool {
    if body.is_empty() {
        return false;
    }
    let lower: Vec<u8> = body.iter().map(u8::to_ascii_lowercase).collect();
    // The length of the run of characters each one more (or one less,
    // with `down`) than the one before, starting at `i`.
    let run = |i: usize, down: bool| {
        let mut j = i + 1;
        while j < lower.len()
            && lower[j].is_ascii_alphanumeric()
            && lower[j - 1].is_ascii_alphanumeric()
            && if down {
                lower[j - 1].checked_sub(1) == Some(lower[j])
            } else {
                lower[j - 1].checked_add(1) == Some(lower[j])
            }
        {
            j += 1;
        }
        j - i
    };
    let mut covered = 0;
    let mut i = 0;
    while i < lower.len() {
        let len = run(i, false).max(run(i, true));
        if len >= SEQUENCE_RUN {
            covered += len;
            i += len;
        } else {
            i += 1;
        }
    }
    (body.len() - covered) * 4 < body.len()
}

fn mixed(value: &[u8]) -> bool {
    let lower = value.iter().any(u8::is_ascii_lowercase);
    let upper = value.iter().any(u8::is_ascii_uppercase);
    let digit = value.iter().any(u8::is_ascii_digit);
    u8::from(lower) + u8::from(upper) + u8::from(digit) >= 2
}

fn digits(value: &[u8]) -> Vec<u8> {
    value
        .iter()
        .filter(|b| b.is_ascii_digit())
        .map(|b| b - b'0')
        .collect()
}

/// The Luhn (mod 10) check.
pub fn luhn(d: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, &x) in d.iter().rev().enumerate() {
        let mut x = u32::from(x);
        if i % 2 == 1 {
            x *= 2;
            if x > 9 {
                x -= 9;
            }
        }
        sum += x;
    }
    !d.is_empty() && sum.is_multiple_of(10)
}

/// Card numbers published by payment processors and card networks for testing.
const TEST_CARDS: &[&str] = &[
    "4111111111111111",
    "4242424242424242",
    "4012888888881881",
    "4000056655665556",
    "4222222222222",
    "5555555555554444",
    "5105105105105100",
    "5200828282828210",
    "2223003122003222",
    "378282246310005",
    "371449635398431",
    "378734493671000",
    "6011111111111117",
    "6011000990139424",
    "3530111333300000",
    "3566002020360505",
    "30569309025904",
    "38520000023237",
];

/// Card number: issuer prefix with its lengths, Luhn, not a test number, not
/// one repeated digit, separators consistent.
pub fn payment_card(value: &[u8]) -> bool {
    let d = digits(value);
    let len = d.len();
    let prefix = |n: usize| -> u32 { d.iter().take(n).fold(0, |a, &x| a * 10 + u32::from(x)) };
    let issuer_ok = match d.first() {
        Some(4) => matches!(len, 13 | 16 | 19), // Visa
        Some(5) => (51..=55).contains(&prefix(2)) && len == 16, // Mastercard
        Some(2) => (2221..=2720).contains(&prefix(4)) && len == 16, // Mastercard 2-series
        Some(3) => {
            (matches!(prefix(2), 34 | 37) && len == 15)                   // American Express
                || ((3528..=3589).contains(&prefix(4)) && (16..=19).contains(&len)) // JCB
                || ((300..=305).contains(&prefix(3)) || matches!(prefix(2), 36 | 38 | 39)) && len == 14
            // Diners
        }
        Some(6) => {
            (prefix(4) == 6011 || prefix(2) == 65 || (644..=649).contains(&prefix(3)))
                && (16..=19).contains(&len)                               // Discover
                || (prefix(2) == 62 && (16..=19).contains(&len)) // UnionPay
        }
        _ => false,
    };
    if !issuer_ok || !luhn(&d) {
        return false;
    }
    let s: String = d.iter().map(|x| char::from(b'0' + x)).collect();
    if TEST_CARDS.contains(&s.as_str()) {
        return false;
    }
    // Mixed separators ("4111 1111-1111") are not how cards are written.
    let spaces = value.contains(&b' ');
    let dashes = value.contains(&b'-');
    if spaces && dashes {
        return false;
    }
    // Runs such as 4000 0000 0000 0002 are test or filler numbers.
    let zeros = d.iter().filter(|&&x| x == 0).count();
    zeros * 2 < len
}

/// IBAN lengths by country (ISO 13616 registry).
const IBAN_LENGTHS: &[(&str, usize)] = &[
    ("AD", 24),
    ("AE", 23),
    ("AL", 28),
    ("AT", 20),
    ("AZ", 28),
    ("BA", 20),
    ("BE", 16),
    ("BG", 22),
    ("BH", 22),
    ("BR", 29),
    ("CH", 21),
    ("CR", 22),
    ("CY", 28),
    ("CZ", 24),
    ("DE", 22),
    ("DK", 18),
    ("DO", 28),
    ("EE", 20),
    ("EG", 29),
    ("ES", 24),
    ("FI", 18),
    ("FO", 18),
    ("FR", 27),
    ("GB", 22),
    ("GE", 22),
    ("GI", 23),
    ("GL", 18),
    ("GR", 27),
    ("GT", 28),
    ("HR", 21),
    ("HU", 28),
    ("IE", 22),
    ("IL", 23),
    ("IS", 26),
    ("IT", 27),
    ("JO", 30),
    ("KW", 30),
    ("KZ", 20),
    ("LB", 28),
    ("LI", 21),
    ("LT", 20),
    ("LU", 20),
    ("LV", 21),
    ("MC", 27),
    ("MD", 24),
    ("ME", 22),
    ("MK", 19),
    ("MR", 27),
    ("MT", 31),
    ("MU", 30),
    ("NL", 18),
    ("NO", 15),
    ("PK", 24),
    ("PL", 28),
    ("PS", 29),
    ("PT", 25),
    ("QA", 29),
    ("RO", 24),
    ("RS", 22),
    ("SA", 24),
    ("SE", 24),
    ("SI", 19),
    ("SK", 24),
    ("SM", 27),
    ("TN", 24),
    ("TR", 26),
    ("UA", 29),
    ("VG", 24),
    ("XK", 20),
];

/// IBANs printed as examples in standards and bank documentation.
const IBAN_EXAMPLES: &[&str] = &[
    "GB82WEST12345698765432",
    "GB29NWBK60161331926819",
    "DE89370400440532013000",
    "FR1420041010050500013M02606",
    "NL91ABNA0417164300",
    "BE68539007547034",
    "CH9300762011623852957",
];

/// IBAN: known country and length, mod-97 remainder 1, not a documentation example.
pub fn iban(value: &[u8]) -> bool {
    let s: Vec<u8> = value.iter().copied().filter(|&b| b != b' ').collect();
    if s.len() < 15 {
        return false;
    }
    let Some(&(_, len)) = IBAN_LENGTHS.iter().find(|(c, _)| c.as_bytes() == &s[..2]) else {
        return false;
    };
    if s.len() != len {
        return false;
    }
    if IBAN_EXAMPLES.iter().any(|e| e.as_bytes() == s.as_slice()) {
        return false;
    }
    let mut rem: u32 = 0;
    for &b in s[4..].iter().chain(&s[..4]) {
        let v = match b {
            b'0'..=b'9' => u32::from(b - b'0'),
            b'A'..=b'Z' => u32::from(b - b'A') + 10,
            _ => return false,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

/// Domains reserved for documentation and testing (RFC 2606, RFC 6761), and
/// suffixes that are file names rather than domains.
const RESERVED_DOMAINS: &[&str] = &[
    "example.com",
    "example.org",
    "example.net",
    "example.edu",
    // Service identities, not people.
    "gserviceaccount.com",
];
const RESERVED_TLDS: &[&str] = &[
    "test",
    "example",
    "invalid",
    "localhost",
    "local",
    "png",
    "jpg",
    "jpeg",
    "gif",
    "svg",
    "webp",
    "css",
    "js",
];

/// E-mail address outside reserved documentation domains.
pub fn email(value: &[u8]) -> bool {
    let lower = value.to_ascii_lowercase();
    let Some(at) = lower.iter().rposition(|&b| b == b'@') else {
        return false;
    };
    let domain = &lower[at + 1..];
    let local = &lower[..at];
    if local.is_empty() || is_placeholder(local) && local.len() > 3 {
        return false;
    }
    let tld = domain.rsplit(|&b| b == b'.').next().unwrap_or_default();
    if RESERVED_TLDS.iter().any(|t| t.as_bytes() == tld) {
        return false;
    }
    !RESERVED_DOMAINS.iter().any(|d| {
        domain == d.as_bytes()
            || (domain.len() > d.len()
                && domain.ends_with(d.as_bytes())
                && domain[domain.len() - d.len() - 1] == b'.')
    })
}

/// US SSN `AAA-GG-SSSS`: area not 000, 666 or 900-999; group not 00; serial
/// not 0000; not a number known from advertising and documentation.
pub fn us_ssn(value: &[u8]) -> bool {
    let d = digits(value);
    if d.len() != 9 {
        return false;
    }
    let area = u32::from(d[0]) * 100 + u32::from(d[1]) * 10 + u32::from(d[2]);
    let group = u32::from(d[3]) * 10 + u32::from(d[4]);
    let serial = d[5..].iter().fold(0u32, |a, &x| a * 10 + u32::from(x));
    if area == 0 || area == 666 || area >= 900 || group == 0 || serial == 0 {
        return false;
    }
    let s: String = d.iter().map(|x| char::from(b'0' + x)).collect();
    !matches!(s.as_str(), "078051120" | "219099999" | "123456789")
}

fn b64url_decode(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &c in s {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            b'=' => break,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    Some(out)
}

/// JWT whose header is a JSON object with `alg` other than `none`.
pub fn jwt(value: &[u8]) -> bool {
    let mut parts = value.split(|&b| b == b'.');
    let Some(header) = parts.next().and_then(b64url_decode) else {
        return false;
    };
    let Ok(serde_json::Value::Object(h)) = serde_json::from_slice::<serde_json::Value>(&header)
    else {
        return false;
    };
    let payload_ok = parts.next().and_then(b64url_decode).is_some_and(|p| {
        serde_json::from_slice::<serde_json::Value>(&p).is_ok_and(|v| v.is_object())
    });
    payload_ok
        && h.get("alg")
            .and_then(|a| a.as_str())
            .is_some_and(|a| a != "none")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cards() {
        assert!(payment_card(b"4539 1488 0343 6467"));
        assert!(!payment_card(b"4539 1488 0343 6468"), "Luhn-invalid");
        assert!(!payment_card(b"4111 1111 1111 1111"), "test number");
        assert!(!payment_card(b"9539148803436467"), "no issuer");
        assert!(luhn(&[7, 9, 9, 2, 7, 3, 9, 8, 7, 1, 3]));
    }

    #[test]
    fn ibans_ssn_email_placeholders() {
        assert!(iban(b"DE44500105175407324931"));
        assert!(!iban(b"DE44500105175407324932"));
        assert!(!iban(b"GB82WEST12345698765432"), "documentation example");
        assert!(us_ssn(b"536-22-8145"));
        assert!(!us_ssn(b"666-22-8145"));
        assert!(!us_ssn(b"936-22-8145"));
        assert!(!us_ssn(b"536-00-8145"));
        assert!(email(b"jane.doe@corp-mail.de"));
        assert!(!email(b"jane@example.com"));
        assert!(!email(b"logo@2x.png"));
        assert!(is_placeholder(b"AKIAXXXXXXXXXXXXXXXX"));
        assert!(is_placeholder(b"AKIAIOSFODNN7EXAMPLE"));
        assert!(is_placeholder(b"ghp_000000000000000000000000000000000000"));
        assert!(!is_placeholder(b"ghp_x7Kq2LmP9vR4sT1wY6zB3nC8dF5gH0jJ2aE4"));
        assert!(is_identifier(b"ML_KEM_512_SHARED_SECRET_LENGTH"));
        assert!(is_identifier(b"Curve25519SeedBin"));
        assert!(is_identifier(b"get_password_from_env"));
        assert!(is_identifier(b"NEW!!secret-access-token"));
        assert!(!is_identifier(b"Zq8kLm2Vx9pR4tYw"));
        assert!(!is_identifier(b"xK9#mP2$vL5qR8tW"));
        let table = b"  1994165897297032, 2245000007398739, 4539148803436467,\n";
        assert!(in_number_table(table, 40, 56));
        let alone = b"card: 4539148803436467\n";
        assert!(!in_number_table(alone, 6, 22));
        let column = b"    1994165897297032,\n    4539148803436467,\n";
        assert!(in_number_table(column, 26, 42));
        assert!(is_identifier(b"CFMutableArrayRef"));
        assert!(is_identifier(b"*/X25519_PRIVATE_KEY_LEN"));
    }

    // Test tokens are assembled here, so that the source holds none a
    // scanner would report.
    fn token(prefix: &str, parts: &[&str]) -> Vec<u8> {
        [prefix, &parts.concat()].concat().into_bytes()
    }

    #[test]
    fn a_sequence_inside_a_random_token_is_no_placeholder() {
        let seq = "abcdefghij0123456789";
        for parts in [
            &["Qm7Rt2Wz", seq, "Lp4Vn8Xs"][..],
            &[seq, "Qm7Rt2WzLp4Vn8Xs"],
            &["Qm7Rt2WzLp4Vn8Xs", seq],
            &["Qm7Rt2Wz", "ABCDEFGHIJ9876543210", "Lp4Vn8Xs"],
        ] {
            let t = token("ghp_", parts);
            assert_eq!(t.len(), 40);
            assert!(!is_placeholder(&t), "{}", String::from_utf8_lossy(&t));
        }
    }

    #[test]
    fn a_token_that_is_essentially_a_sequence_is_a_placeholder() {
        for parts in [
            &["abcdefghij0123456789", "abcdefghij012345"][..],
            &["0123456789", "abcdefghijklmnopqrstuvwxyz"],
            &["zyxwvutsrqponmlkjihgfedcba", "9876543210"],
            // A few odd characters do not make it random.
            &["abcdefghij0123456789", "Q", "abcdefghij01234"],
        ] {
            let t = token("ghp_", parts);
            assert_eq!(t.len(), 40);
            assert!(is_placeholder(&t), "{}", String::from_utf8_lossy(&t));
        }
        // Without a prefix too.
        assert!(is_placeholder(b"1234567890"));
        assert!(is_placeholder(b"abcdefghij"));
    }
}
