//! Rules as data: the embedded defaults and user rule files (TOML).

use std::collections::BTreeSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::DlpError;

/// The embedded default rules (written for this project).
pub const DEFAULT_RULES: &str = include_str!("default_rules.toml");

/// What a rule looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Class {
    /// Credentials: keys, tokens, passwords.
    Secret,
    /// Personal data: card numbers, bank accounts, e-mail addresses, national ids.
    Personal,
}

impl Class {
    /// `secret` or `personal`.
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Secret => "secret",
            Class::Personal => "personal",
        }
    }
}

/// How serious a finding of a rule is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RuleSeverity {
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Critical.
    Critical,
}

impl RuleSeverity {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleSeverity::Low => "low",
            RuleSeverity::Medium => "medium",
            RuleSeverity::High => "high",
            RuleSeverity::Critical => "critical",
        }
    }
}

/// A check run on a candidate value after its pattern matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Validator {
    /// Rejects placeholders: one repeated character (`XXXX`, `0000`),
    /// `EXAMPLE`, `your_…`, template markers, well-known documentation values.
    NotPlaceholder,
    /// The value mixes at least two of lower case, upper case and digits.
    MixedCaseDigits,
    /// Luhn check, issuer prefix and length; published test numbers rejected.
    PaymentCard,
    /// IBAN country length and mod-97 check; documentation examples rejected.
    Iban,
    /// Address with a real domain (reserved example and test domains rejected).
    Email,
    /// US social security number outside the never-issued ranges.
    UsSsn,
    /// JSON Web Token whose header decodes to JSON with an `alg`.
    Jwt,
    /// Rejects values that read as code rather than a secret: identifiers in
    /// CONSTANT_CASE, CamelCase or snake_case, and values that contain the
    /// words password, secret or token themselves.
    NotIdentifier,
    /// Rejects a number that sits in a table of numbers (a line with two or
    /// more other runs of ten or more digits), as in source-code constants.
    NotInNumberTable,
}

/// A second pattern that must match near the first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nearby {
    /// The pattern.
    pub pattern: String,
    /// Maximum distance in bytes between the two matches.
    pub within: usize,
}

/// One detection rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Stable id, e.g. `aws-access-key-id`.
    pub id: String,
    /// What it finds.
    pub description: String,
    /// Secret or personal data.
    pub class: Class,
    /// Severity of a finding.
    pub severity: RuleSeverity,
    /// ASCII keywords for the prefilter (case-insensitive); empty runs the
    /// pattern on every file.
    #[serde(default)]
    pub keywords: Vec<String>,
    /// The regular expression; capture group 1, when present, is the value.
    pub pattern: String,
    /// Validators the value must pass.
    #[serde(default)]
    pub validators: Vec<Validator>,
    /// Minimum Shannon entropy of the value in bits per character.
    #[serde(default)]
    pub min_entropy: Option<f64>,
    /// A pattern that must also match nearby.
    #[serde(default)]
    pub nearby: Option<Nearby>,
    /// Whether the rule runs (configuration can enable disabled rules). Default: true.
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    #[serde(default)]
    rule: Vec<Rule>,
}

/// Parse rules from TOML text (`[[rule]]` tables).
pub fn parse_rules(text: &str, origin: &str) -> Result<Vec<Rule>, DlpError> {
    let file: RuleFile = toml::from_str(text).map_err(|e| DlpError::Rules {
        origin: origin.to_string(),
        message: e.to_string(),
    })?;
    let mut seen = BTreeSet::new();
    for r in &file.rule {
        if !seen.insert(r.id.as_str()) {
            return Err(DlpError::Rules {
                origin: origin.to_string(),
                message: format!("rule id {:?} appears twice", r.id),
            });
        }
        if r.id.is_empty()
            || !r
                .id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(DlpError::Rules {
                origin: origin.to_string(),
                message: format!("rule id {:?} must be ASCII letters, digits, - or _", r.id),
            });
        }
        if let Some(k) = r.keywords.iter().find(|k| k.is_empty() || !k.is_ascii()) {
            return Err(DlpError::Rules {
                origin: origin.to_string(),
                message: format!("rule {}: keyword {k:?} must be non-empty ASCII", r.id),
            });
        }
    }
    Ok(file.rule)
}

/// The embedded rules.
pub fn default_rules() -> Vec<Rule> {
    // Invariant: the embedded file is parsed by a unit test.
    #[allow(clippy::expect_used)]
    parse_rules(DEFAULT_RULES, "embedded rules").expect("embedded rules parse")
}

/// Rule selection: defaults, extended (or replaced by id) by a user file,
/// with rules enabled or disabled by id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleSelection {
    /// A user rules file: its rules are added; one with a default rule's id replaces it.
    pub rules_file: Option<std::path::PathBuf>,
    /// Ids of rules to enable (e.g. `us-ssn`, off by default).
    pub enable: Vec<String>,
    /// Ids of rules to disable.
    pub disable: Vec<String>,
}

impl RuleSelection {
    /// The resulting enabled rules.
    pub fn load(&self) -> Result<Vec<Rule>, DlpError> {
        let mut rules = default_rules();
        if let Some(path) = &self.rules_file {
            let text = read_text(path)?;
            for r in parse_rules(&text, &path.display().to_string())? {
                match rules.iter_mut().find(|d| d.id == r.id) {
                    Some(d) => *d = r,
                    None => rules.push(r),
                }
            }
        }
        for id in self.enable.iter().chain(&self.disable) {
            if !rules.iter().any(|r| &r.id == id) {
                return Err(DlpError::Rules {
                    origin: "rule selection".into(),
                    message: format!("no rule has the id {id:?}"),
                });
            }
        }
        for r in &mut rules {
            if self.enable.contains(&r.id) {
                r.enabled = true;
            }
            if self.disable.contains(&r.id) {
                r.enabled = false;
            }
        }
        rules.retain(|r| r.enabled);
        Ok(rules)
    }
}

pub(crate) fn read_text(path: &Path) -> Result<String, DlpError> {
    std::fs::read_to_string(path).map_err(|e| DlpError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn embedded_rules_parse_and_user_rules_extend() {
        let rules = default_rules();
        assert!(rules.len() >= 18);
        assert!(rules.iter().any(|r| r.id == "us-ssn" && !r.enabled));
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("rules.toml");
        std::fs::write(
            &p,
            "[[rule]]\nid = \"acme-key\"\ndescription = \"ACME key\"\nclass = \"secret\"\nseverity = \"high\"\nkeywords = [\"acme_\"]\npattern = 'acme_[a-z0-9]{20}'\n",
        )
        .unwrap();
        let sel = RuleSelection {
            rules_file: Some(p),
            enable: vec!["us-ssn".into()],
            disable: vec!["email-address".into()],
        };
        let loaded = sel.load().unwrap();
        assert!(loaded.iter().any(|r| r.id == "acme-key"));
        assert!(loaded.iter().any(|r| r.id == "us-ssn"));
        assert!(!loaded.iter().any(|r| r.id == "email-address"));
        let bad = RuleSelection {
            enable: vec!["nope".into()],
            ..Default::default()
        };
        assert!(bad.load().is_err());
        assert!(parse_rules("[[rule]]\nid = \"x\"\n", "t").is_err());
    }
}
