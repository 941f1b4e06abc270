//! Debian package version comparison (Debian Policy §5.6.12).
//!
//! A version is `[epoch:]upstream[-revision]`. Epochs compare numerically;
//! upstream and revision compare part by part: a run of non-digits compared
//! character by character, where `~` sorts before everything (even the end
//! of the string) and letters sort before all other characters, then a run
//! of digits compared numerically. A missing revision equals `0`.

use std::cmp::Ordering;

/// A version split into its three parts (borrowed from the input).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DebVersion<'a> {
    /// Digits of the epoch, `""` when absent (equal to `0`).
    pub epoch: &'a str,
    /// The upstream version.
    pub upstream: &'a str,
    /// The Debian revision, `""` when absent (equal to `0`).
    pub revision: &'a str,
}

impl<'a> DebVersion<'a> {
    /// Split a version string. Never fails: a malformed epoch (not digits)
    /// is kept in the upstream part, so comparison stays total.
    pub fn parse(version: &'a str) -> DebVersion<'a> {
        let version = version.trim();
        let (epoch, rest) = match version.split_once(':') {
            Some((e, rest)) if !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit()) => (e, rest),
            _ => ("", version),
        };
        let (upstream, revision) = match rest.rsplit_once('-') {
            Some((u, r)) => (u, r),
            None => (rest, ""),
        };
        DebVersion {
            epoch,
            upstream,
            revision,
        }
    }
}

impl Ord for DebVersion<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        compare_digits(self.epoch.as_bytes(), other.epoch.as_bytes())
            .then_with(|| compare_part(self.upstream, other.upstream))
            .then_with(|| compare_part(self.revision, other.revision))
    }
}

impl PartialOrd for DebVersion<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Compare two Debian version strings.
pub fn compare(a: &str, b: &str) -> Ordering {
    DebVersion::parse(a).cmp(&DebVersion::parse(b))
}

/// Sort weight of one character of a non-digit run; `None` is the end of the run.
fn weight(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(b'~') => -1,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(c) => i32::from(c) + 256,
    }
}

/// Compare two digit runs numerically without overflowing.
fn compare_digits(a: &[u8], b: &[u8]) -> Ordering {
    let strip = |s: &[u8]| -> usize { s.iter().take_while(|&&c| c == b'0').count() };
    let a = &a[strip(a)..];
    let b = &b[strip(b)..];
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// Compare an upstream version or a revision.
fn compare_part(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    while !a.is_empty() || !b.is_empty() {
        // Non-digit run, character by character.
        loop {
            let ac = a.first().copied().filter(|c| !c.is_ascii_digit());
            let bc = b.first().copied().filter(|c| !c.is_ascii_digit());
            if ac.is_none() && bc.is_none() {
                break;
            }
            let (wa, wb) = (weight(ac), weight(bc));
            if wa != wb {
                return wa.cmp(&wb);
            }
            // Equal weights with at least one non-digit means both are the
            // same non-digit character: advance both.
            a = &a[1..];
            b = &b[1..];
        }
        // Digit run, numerically.
        let na = a.iter().take_while(|c| c.is_ascii_digit()).count();
        let nb = b.iter().take_while(|c| c.is_ascii_digit()).count();
        let ord = compare_digits(&a[..na], &b[..nb]);
        if ord != Ordering::Equal {
            return ord;
        }
        a = &a[na..];
        b = &b[nb..];
    }
    Ordering::Equal
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use Ordering::{Equal, Greater, Less};

    #[test]
    fn parses_parts() {
        let v = DebVersion::parse("2:1.2-3-4");
        assert_eq!((v.epoch, v.upstream, v.revision), ("2", "1.2-3", "4"));
        let v = DebVersion::parse("1.0");
        assert_eq!((v.epoch, v.upstream, v.revision), ("", "1.0", ""));
        let v = DebVersion::parse("1:2.3:4-5");
        assert_eq!((v.epoch, v.upstream, v.revision), ("1", "2.3:4", "5"));
    }

    #[test]
    fn known_pairs() {
        let cases = [
            // Tilde sorts before everything, even the end (Debian Policy 5.6.12).
            ("1.0~rc1", "1.0", Less),
            ("1.0~~", "1.0~~a", Less),
            ("1.0~~a", "1.0~", Less),
            ("1.0~", "1.0", Less),
            ("1.0", "1.0a", Less),
            ("1.0~rc1-1", "1.0-1", Less),
            ("1.0-1~bpo1", "1.0-1", Less),
            // Letters before non-letters.
            ("1.0a", "1.0+", Less),
            ("1.0a", "1.0.", Less),
            ("1.0", "1.0+b1", Less),
            ("1.0", "1.0.0", Less),
            // Numeric runs compare as numbers.
            ("1.2.3", "1.10", Less),
            ("1.0-9", "1.0-10", Less),
            ("1.0-01", "1.0-1", Equal),
            ("1.001", "1.1", Equal),
            ("99999999999999999999999", "100000000000000000000000", Less),
            // Epochs.
            ("1:1.0", "2.0", Greater),
            ("0:1.0", "1.0", Equal),
            ("1:0.1", "0:9.9", Greater),
            // A missing revision equals 0.
            ("1.0", "1.0-0", Equal),
            ("1.0", "1.0-1", Less),
            // Real Debian security updates.
            ("2.36-9+deb12u7", "2.36-9+deb12u10", Less),
            ("7.88.1-10+deb12u5", "7.88.1-10+deb12u8", Less),
            ("1.18.5+dfsg-1~deb12u1", "1.18.5+dfsg-1", Less),
            ("3.0.11-1~deb12u2", "3.0.15-1~deb12u1", Less),
            ("1:9.18.19-1~deb12u1", "1:9.18.28-1~deb12u2", Less),
            ("252.30-1~deb12u2", "252.31-1~deb12u1", Less),
            ("2.30-7", "2.30-7+deb12u1", Less),
            ("1.2.13.dfsg-1", "1:1.2.13.dfsg-1", Less),
            ("a", "b", Less),
            ("", "0", Equal),
        ];
        for (a, b, want) in cases {
            assert_eq!(compare(a, b), want, "{a} vs {b}");
            assert_eq!(compare(b, a), want.reverse(), "{b} vs {a}");
            assert_eq!(compare(a, a), Equal, "{a}");
        }
    }

    #[test]
    fn sorting_is_consistent() {
        let mut v = vec![
            "1.0", "1.0~", "1.0-1", "1:0.1", "1.0a", "1.0~~", "1.0+b1", "0.9", "1.0~~a",
        ];
        v.sort_by(|a, b| compare(a, b));
        assert_eq!(
            v,
            vec!["0.9", "1.0~~", "1.0~~a", "1.0~", "1.0", "1.0-1", "1.0a", "1.0+b1", "1:0.1"]
        );
    }
}
