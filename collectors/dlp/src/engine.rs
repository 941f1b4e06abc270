//! The detection engine: rules compiled once, then one prefilter pass per
//! buffer selects the rules whose patterns and validators run.

use std::io::Read;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, Input, MatchKind};
use regex::bytes::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};

use crate::fingerprint::Fingerprinter;
use crate::rules::{Class, Rule, RuleSeverity};
use crate::validate;
use crate::DlpError;

/// Bytes read and scanned at once from a large file.
pub const CHUNK: usize = 8 << 20;
/// Bytes carried from one chunk into the next, so that a match across the
/// boundary is seen whole (longer than any rule's match).
pub const OVERLAP: usize = 64 << 10;
/// Bytes inspected for a NUL to classify a file as binary.
pub const BINARY_PROBE: usize = 8 << 10;

#[derive(Debug)]
struct CompiledRule {
    rule: Rule,
    regex: Regex,
    has_group: bool,
    nearby: Option<(Regex, usize)>,
}

/// One match that passed its validators: never the value itself, only its
/// redacted preview and keyed fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// Index of the rule in [`Scanner::rules`].
    pub rule: usize,
    /// 1-based line of the value's start.
    pub line: u64,
    /// First and last characters at most.
    pub preview: String,
    /// HMAC-SHA256 of the value under the fingerprint key (hex).
    pub fingerprint: String,
}

/// Rules compiled for scanning.
#[derive(Debug)]
pub struct Scanner {
    rules: Vec<CompiledRule>,
    prefilter: Option<AhoCorasick>,
    /// For each prefilter pattern, the rules it triggers.
    triggers: Vec<Vec<usize>>,
    /// Rules without keywords: they run on every buffer.
    always: Vec<usize>,
    /// Their patterns as one set: one pass tells which of them can match.
    always_set: Option<RegexSet>,
    fingerprinter: Fingerprinter,
}

fn compile(pattern: &str, id: &str) -> Result<Regex, DlpError> {
    // ASCII mode first (much faster \b, \w, \d); Unicode only when the
    // pattern needs it (a non-ASCII literal).
    RegexBuilder::new(pattern)
        .unicode(false)
        .multi_line(true)
        .size_limit(64 << 20)
        .build()
        .or_else(|_| {
            RegexBuilder::new(pattern)
                .multi_line(true)
                .size_limit(64 << 20)
                .build()
        })
        .map_err(|e| DlpError::Rules {
            origin: format!("rule {id}"),
            message: e.to_string(),
        })
}

impl Scanner {
    /// Compile rules.
    pub fn new(rules: Vec<Rule>, fingerprinter: Fingerprinter) -> Result<Scanner, DlpError> {
        let mut compiled = Vec::with_capacity(rules.len());
        for rule in rules {
            let regex = compile(&rule.pattern, &rule.id)?;
            let nearby = match &rule.nearby {
                Some(n) => Some((compile(&n.pattern, &rule.id)?, n.within)),
                None => None,
            };
            compiled.push(CompiledRule {
                has_group: regex.captures_len() > 1,
                regex,
                nearby,
                rule,
            });
        }
        // Distinct keywords, lower-cased, longest first: in leftmost-first
        // mode the longest keyword starting at a position wins.
        let mut keywords: Vec<String> = compiled
            .iter()
            .flat_map(|c| c.rule.keywords.iter().map(|k| k.to_ascii_lowercase()))
            .collect();
        keywords.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
        keywords.dedup();
        // A keyword found also means every keyword inside it occurs: it
        // triggers their rules too, so no occurrence is ever shadowed.
        let triggers: Vec<Vec<usize>> = keywords
            .iter()
            .map(|k| {
                compiled
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| {
                        c.rule
                            .keywords
                            .iter()
                            .any(|rk| k.contains(&rk.to_ascii_lowercase()))
                    })
                    .map(|(i, _)| i)
                    .collect()
            })
            .collect();
        let prefilter = if keywords.is_empty() {
            None
        } else {
            Some(
                AhoCorasickBuilder::new()
                    .match_kind(MatchKind::LeftmostFirst)
                    .ascii_case_insensitive(true)
                    .build(&keywords)
                    .map_err(|e| DlpError::Rules {
                        origin: "keywords".into(),
                        message: e.to_string(),
                    })?,
            )
        };
        let always: Vec<usize> = compiled
            .iter()
            .enumerate()
            .filter(|(_, c)| c.rule.keywords.is_empty())
            .map(|(i, _)| i)
            .collect();
        let always_set = if always.is_empty() {
            None
        } else {
            let pats: Vec<&str> = always
                .iter()
                .map(|&i: &usize| compiled[i].rule.pattern.as_str())
                .collect();
            RegexSetBuilder::new(&pats)
                .unicode(false)
                .multi_line(true)
                .size_limit(64 << 20)
                .build()
                .ok()
        };
        Ok(Scanner {
            rules: compiled,
            prefilter,
            triggers,
            always,
            always_set,
            fingerprinter,
        })
    }

    /// The rules, in index order.
    pub fn rules(&self) -> impl Iterator<Item = &Rule> {
        self.rules.iter().map(|c| &c.rule)
    }

    /// Rule by index.
    pub fn rule(&self, i: usize) -> &Rule {
        &self.rules[i].rule
    }

    /// Whether the first bytes mark the content as binary (a NUL byte).
    pub fn is_binary(head: &[u8]) -> bool {
        memchr::memchr(0, &head[..head.len().min(BINARY_PROBE)]).is_some()
    }

    /// Scan one buffer, reporting matches that start before `limit`; lines
    /// are counted from `first_line`.
    fn scan_slice(&self, buf: &[u8], limit: usize, first_line: u64, out: &mut Vec<Hit>) {
        let mut triggered = vec![false; self.rules.len()];
        match &self.always_set {
            // One pass for all keyword-less rules; only those that can match run.
            Some(set) => {
                for k in set.matches(buf).iter() {
                    triggered[self.always[k]] = true;
                }
            }
            None => {
                for &i in &self.always {
                    triggered[i] = true;
                }
            }
        }
        if let Some(ac) = &self.prefilter {
            let mut pos = 0;
            let mut remaining = self.rules.len() - self.always.len();
            while remaining > 0 && pos < buf.len() {
                let Some(m) = ac.find(Input::new(buf).span(pos..buf.len())) else {
                    break;
                };
                for &r in &self.triggers[m.pattern().as_usize()] {
                    if !triggered[r] {
                        triggered[r] = true;
                        remaining -= 1;
                    }
                }
                // Restart just after the match's start, so a keyword that
                // overlaps a longer one is not skipped.
                pos = m.start() + 1;
            }
        }
        // (start, end, rule, value range)
        let mut found: Vec<(usize, usize, usize)> = Vec::new();
        for (i, c) in self.rules.iter().enumerate() {
            if !triggered[i] {
                continue;
            }
            if c.has_group {
                for caps in c.regex.captures_iter(buf) {
                    let Some(m) = caps.get(1).or_else(|| caps.get(0)) else {
                        continue;
                    };
                    if m.start() < limit && self.accept(c, buf, m.start(), m.end()) {
                        found.push((m.start(), m.end(), i));
                    }
                }
            } else {
                for m in c.regex.find_iter(buf) {
                    if m.start() < limit && self.accept(c, buf, m.start(), m.end()) {
                        found.push((m.start(), m.end(), i));
                    }
                }
            }
        }
        if found.is_empty() {
            return;
        }
        // Overlapping values: keep the most severe, then the earlier rule.
        found.sort_by(|a, b| {
            a.0.cmp(&b.0).then_with(|| {
                let (ra, rb) = (&self.rules[a.2].rule, &self.rules[b.2].rule);
                rb.severity.cmp(&ra.severity).then(a.2.cmp(&b.2))
            })
        });
        let mut kept: Vec<(usize, usize, usize)> = Vec::with_capacity(found.len());
        for f in found {
            match kept.last_mut() {
                Some(last) if f.0 < last.1 => {
                    let (rl, rf) = (&self.rules[last.2].rule, &self.rules[f.2].rule);
                    if rf.severity > rl.severity {
                        *last = f;
                    }
                }
                _ => kept.push(f),
            }
        }
        let mut line = first_line;
        let mut at = 0;
        for (start, end, rule) in kept {
            line += memchr::memchr_iter(b'\n', &buf[at..start]).count() as u64;
            at = start;
            let value = &buf[start..end];
            out.push(Hit {
                rule,
                line,
                preview: redact(value),
                fingerprint: self.fingerprinter.fingerprint(value),
            });
        }
    }

    fn accept(&self, c: &CompiledRule, buf: &[u8], start: usize, end: usize) -> bool {
        let value = &buf[start..end];
        if let Some(min) = c.rule.min_entropy {
            if validate::entropy(value) < min {
                return false;
            }
        }
        if !c.rule.validators.iter().all(|v| validate::check(*v, value)) {
            return false;
        }
        if c.rule
            .validators
            .contains(&crate::rules::Validator::NotInNumberTable)
            && validate::in_number_table(buf, start, end)
        {
            return false;
        }
        if let Some((re, within)) = &c.nearby {
            let lo = start.saturating_sub(*within);
            let hi = (end + within).min(buf.len());
            if !re.is_match(&buf[lo..hi]) {
                return false;
            }
        }
        true
    }

    /// Scan a whole buffer in memory (a git blob).
    pub fn scan_bytes(&self, buf: &[u8]) -> Vec<Hit> {
        let mut out = Vec::new();
        self.scan_slice(buf, buf.len(), 1, &mut out);
        out
    }

    /// Scan a reader in bounded chunks of [`CHUNK`] bytes (plus [`OVERLAP`]).
    /// Returns `None` when the content is binary, else the hits and bytes read.
    pub fn scan_reader<R: Read>(&self, mut r: R) -> std::io::Result<Option<(Vec<Hit>, u64)>> {
        let mut buf: Vec<u8> = Vec::with_capacity(64 << 10);
        let mut out = Vec::new();
        let mut line = 1u64;
        let mut total = 0u64;
        let mut first = true;
        loop {
            let eof = fill(&mut r, &mut buf, CHUNK + OVERLAP, &mut total)?;
            if first {
                if Self::is_binary(&buf) {
                    return Ok(None);
                }
                first = false;
            }
            if eof {
                self.scan_slice(&buf, buf.len(), line, &mut out);
                return Ok(Some((out, total)));
            }
            let limit = buf.len() - OVERLAP;
            self.scan_slice(&buf, limit, line, &mut out);
            line += memchr::memchr_iter(b'\n', &buf[..limit]).count() as u64;
            buf.drain(..limit);
        }
    }

    /// A scan of content that arrives in pieces (an object streamed over
    /// the network): push the pieces in order, then [`StreamScan::finish`].
    /// Memory is bounded by [`STREAM_CHUNK`] plus [`OVERLAP`] plus one piece.
    pub fn stream(&self) -> StreamScan<'_> {
        StreamScan {
            scanner: self,
            buf: Vec::new(),
            hits: Vec::new(),
            line: 1,
            total: 0,
            binary: None,
        }
    }

    /// Class and severity of a rule (by index).
    pub fn class_of(&self, i: usize) -> (Class, RuleSeverity) {
        let r = &self.rules[i].rule;
        (r.class, r.severity)
    }
}

/// Bytes a [`StreamScan`] scans at once (smaller than [`CHUNK`]: several
/// streams are open at the same time).
pub const STREAM_CHUNK: usize = 1 << 20;

/// A scan of content pushed in pieces (see [`Scanner::stream`]).
#[derive(Debug)]
pub struct StreamScan<'a> {
    scanner: &'a Scanner,
    buf: Vec<u8>,
    hits: Vec<Hit>,
    line: u64,
    total: u64,
    /// Decided once [`BINARY_PROBE`] bytes (or the end) are seen.
    binary: Option<bool>,
}

impl StreamScan<'_> {
    /// Add the next piece. Returns false once the content is known to be
    /// binary: the caller can stop reading (nothing more is scanned).
    pub fn push(&mut self, mut piece: &[u8]) -> bool {
        if self.binary == Some(true) {
            return false;
        }
        self.total += piece.len() as u64;
        while !piece.is_empty() {
            let room = (STREAM_CHUNK + OVERLAP).saturating_sub(self.buf.len());
            let take = room.min(piece.len());
            self.buf.extend_from_slice(&piece[..take]);
            piece = &piece[take..];
            if self.binary.is_none() && self.buf.len() >= BINARY_PROBE {
                let b = Scanner::is_binary(&self.buf);
                self.binary = Some(b);
                if b {
                    self.buf = Vec::new();
                    return false;
                }
            }
            if self.buf.len() >= STREAM_CHUNK + OVERLAP {
                let limit = self.buf.len() - OVERLAP;
                self.scanner
                    .scan_slice(&self.buf, limit, self.line, &mut self.hits);
                self.line += memchr::memchr_iter(b'\n', &self.buf[..limit]).count() as u64;
                self.buf.drain(..limit);
            }
        }
        true
    }

    /// Bytes pushed so far.
    pub fn bytes(&self) -> u64 {
        self.total
    }

    /// Scan what is left: `None` when the content is binary, else the hits.
    pub fn finish(mut self) -> Option<Vec<Hit>> {
        let binary = match self.binary {
            Some(b) => b,
            None => Scanner::is_binary(&self.buf),
        };
        if binary {
            return None;
        }
        let len = self.buf.len();
        self.scanner
            .scan_slice(&self.buf, len, self.line, &mut self.hits);
        Some(self.hits)
    }
}

/// Read until `buf` holds `want` bytes or the reader ends; true at the end.
fn fill<R: Read>(
    r: &mut R,
    buf: &mut Vec<u8>,
    want: usize,
    total: &mut u64,
) -> std::io::Result<bool> {
    while buf.len() < want {
        let old = buf.len();
        let grow = (want - old).min(256 << 10);
        buf.resize(old + grow, 0);
        let n = loop {
            match r.read(&mut buf[old..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    buf.truncate(old);
                    return Err(e);
                }
            }
        };
        buf.truncate(old + n);
        *total += n as u64;
        if n == 0 {
            return Ok(true);
        }
    }
    Ok(false)
}

/// A redacted preview: at most the first two and last two characters of a
/// long value, one each of a shorter one, nothing of a short one.
pub fn redact(value: &[u8]) -> String {
    let printable = |b: &[u8]| -> String {
        b.iter()
            .map(|&c| {
                if c.is_ascii_graphic() {
                    char::from(c)
                } else {
                    '?'
                }
            })
            .collect()
    };
    let n = value.len();
    if n >= 16 {
        format!("{}…{}", printable(&value[..2]), printable(&value[n - 2..]))
    } else if n >= 8 {
        format!("{}…{}", printable(&value[..1]), printable(&value[n - 1..]))
    } else {
        "…".to_string()
    }
}
