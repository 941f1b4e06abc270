//! SSH daemon authentication: the `host.sshd` observation and its checks.
//!
//! The collector resolves `sshd_config` the way sshd does (`Include` globs,
//! first value wins, keywords case-insensitive, `Match` blocks) and records
//! only the effective values of the keywords below, with the file and line
//! that set them. Unset keywords take OpenSSH's defaults here.

use serde::{Deserialize, Serialize};

use super::ProbeError;
use crate::model::{Check, CheckMeta, Finding, Observation, Severity, Status};
use crate::reason::ReasonCode;

/// The observation source of these checks.
pub const SOURCE: &str = "host.sshd";

/// The resource id of every finding of these checks.
pub const RESOURCE: &str = "sshd";

/// Keywords the collector records, lower-case. `ChallengeResponseAuthentication`
/// is an alias of `KbdInteractiveAuthentication` in OpenSSH and is recorded
/// under the latter.
pub const KEYWORDS: &[&str] = &[
    "passwordauthentication",
    "kbdinteractiveauthentication",
    "usepam",
    "authenticationmethods",
    "permitrootlogin",
    "permitemptypasswords",
];

/// What the host collector saw of the SSH daemon's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SshdObservation {
    /// Whether the sshd binary (`/usr/sbin/sshd` or `/usr/bin/sshd`) exists.
    pub binary_present: bool,
    /// Whether the main configuration file exists.
    pub config_present: bool,
    /// Path of the main configuration file, as seen on the host.
    pub config_path: String,
    /// Every configuration file read, in the order sshd reads them.
    pub files_read: Vec<String>,
    /// Effective global values of [`KEYWORDS`]; an absent keyword is unset
    /// (OpenSSH's default applies).
    pub settings: Vec<SshdSetting>,
    /// Values of [`KEYWORDS`] set inside `Match` blocks; they override the
    /// global value for the connections the block matches.
    pub match_settings: Vec<SshdMatchSetting>,
    /// Set when the configuration could not be read completely.
    pub error: Option<ProbeError>,
}

/// One effective global setting and where it was set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SshdSetting {
    /// Keyword, lower-case (one of [`KEYWORDS`]).
    pub keyword: String,
    /// Its arguments, separated by single spaces, as written.
    pub value: String,
    /// File that set it, as seen on the host.
    pub file: String,
    /// Line number (1-based) in that file.
    pub line: u32,
}

/// A setting inside a `Match` block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SshdMatchSetting {
    /// The criteria of the block, as written after `Match`.
    pub criteria: String,
    /// The setting.
    pub setting: SshdSetting,
}

impl SshdSetting {
    /// The first argument, lower-case (the value of single-valued keywords).
    pub fn first_value(&self) -> String {
        self.value
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase()
    }

    /// `file:line`.
    pub fn location(&self) -> String {
        format!("{}:{}", self.file, self.line)
    }
}

impl SshdObservation {
    /// The effective global setting of `keyword` (lower-case), if set.
    pub fn global(&self, keyword: &str) -> Option<&SshdSetting> {
        self.settings.iter().find(|s| s.keyword == keyword)
    }

    /// The `Match` block settings of `keyword` (lower-case).
    pub fn in_match<'a>(&'a self, keyword: &'a str) -> impl Iterator<Item = &'a SshdMatchSetting> {
        self.match_settings
            .iter()
            .filter(move |m| m.setting.keyword == keyword)
    }
}

/// An effective value: the configured one with where it was set, or the default.
struct Effective {
    value: String,
    origin: String,
}

impl Effective {
    fn of(obs: &SshdObservation, keyword: &str, default: &str) -> Effective {
        match obs.global(keyword) {
            Some(s) => Effective {
                value: s.first_value(),
                origin: format!("set at {}", s.location()),
            },
            None => Effective {
                value: default.to_string(),
                origin: "OpenSSH default".to_string(),
            },
        }
    }
}

/// A yes/no value; `None` for anything else.
fn yes_no(value: &str) -> Option<bool> {
    match value {
        "yes" => Some(true),
        "no" => Some(false),
        _ => None,
    }
}

/// Shared preamble: parse the payload and handle absent / unreadable
/// configurations. `Err` carries the one finding to return.
fn prepare(meta: &CheckMeta, obs: &Observation) -> Result<SshdObservation, Finding> {
    let data: SshdObservation = obs
        .payload()
        .map_err(|e| Finding::malformed(meta, obs, &e))?;
    if !data.binary_present && !data.config_present {
        return Err(Finding::new(
            meta,
            RESOURCE,
            Status::NotApplicable,
            ReasonCode::ComponentAbsent,
            format!(
                "sshd is not installed (no /usr/sbin/sshd and no {})",
                data.config_path
            ),
        ));
    }
    if let Some(err) = &data.error {
        return Err(Finding::new(
            meta,
            RESOURCE,
            Status::Error,
            err.kind.reason_code(),
            err.message.clone(),
        ));
    }
    if !data.config_present {
        return Err(Finding::new(
            meta,
            RESOURCE,
            Status::Error,
            ReasonCode::Unreadable,
            format!(
                "sshd is installed but {} does not exist; its effective settings cannot be known",
                data.config_path
            ),
        ));
    }
    Ok(data)
}

fn invalid(meta: &CheckMeta, keyword: &str, eff: &Effective) -> Finding {
    Finding::new(
        meta,
        RESOURCE,
        Status::Error,
        ReasonCode::Unreadable,
        format!(
            "unrecognised value {:?} for {keyword} ({})",
            eff.value, eff.origin
        ),
    )
}

// ---------------------------------------------------------------------------

/// Metadata of [`PASSWORD_AUTH_DISABLED`].
pub const PASSWORD_AUTH_DISABLED_META: CheckMeta = CheckMeta {
    id: "host_sshd_password_auth_disabled",
    title: "SSH daemon does not accept password authentication",
    severity: Severity::High,
    controls: &["A.8.5"],
    source: SOURCE,
    rationale: "Passwords sent to sshd can be guessed, sprayed or phished; public keys or \
                certificates resist these attacks. With UsePAM yes, keyboard-interactive \
                authentication accepts passwords too.",
    remediation: "Set `PasswordAuthentication no` and `KbdInteractiveAuthentication no` in \
                  /etc/ssh/sshd_config (before any Include that could set them first), remove \
                  `PasswordAuthentication yes` from Match blocks, and reload sshd.",
    max_age_days: 7,
};

/// Password (and PAM keyboard-interactive) authentication is disabled, globally
/// and in every `Match` block.
pub const PASSWORD_AUTH_DISABLED: Check = Check {
    meta: PASSWORD_AUTH_DISABLED_META,
    evaluate: evaluate_password_auth,
};

/// Whether an `AuthenticationMethods` value lets a password be used.
fn methods_allow_password(value: &str) -> bool {
    let value = value.trim();
    if value.eq_ignore_ascii_case("any") {
        return true;
    }
    value.split_whitespace().any(|list| {
        list.split(',').any(|method| {
            let name = method.split(':').next().unwrap_or_default();
            name == "password" || name == "keyboard-interactive"
        })
    })
}

fn evaluate_password_auth(obs: &Observation) -> Vec<Finding> {
    let meta = &PASSWORD_AUTH_DISABLED_META;
    let data = match prepare(meta, obs) {
        Ok(d) => d,
        Err(f) => return vec![f],
    };
    let pw = Effective::of(&data, "passwordauthentication", "yes");
    let kbd = Effective::of(&data, "kbdinteractiveauthentication", "yes");
    let pam = Effective::of(&data, "usepam", "no");
    let Some(pw_on) = yes_no(&pw.value) else {
        return vec![invalid(meta, "PasswordAuthentication", &pw)];
    };
    let Some(kbd_on) = yes_no(&kbd.value) else {
        return vec![invalid(meta, "KbdInteractiveAuthentication", &kbd)];
    };
    let Some(pam_on) = yes_no(&pam.value) else {
        return vec![invalid(meta, "UsePAM", &pam)];
    };
    let methods = data.global("authenticationmethods");
    if let Some(m) = methods {
        if !methods_allow_password(&m.value) {
            return vec![Finding::new(
                meta,
                RESOURCE,
                Status::Pass,
                ReasonCode::SshPasswordAuthDisabled,
                format!(
                    "AuthenticationMethods {} ({}) allows neither password nor \
                     keyboard-interactive authentication",
                    m.value,
                    m.location()
                ),
            )];
        }
    }
    if pw_on {
        return vec![Finding::new(
            meta,
            RESOURCE,
            Status::Fail,
            ReasonCode::SshPasswordAuthEnabled,
            format!("PasswordAuthentication is yes ({})", pw.origin),
        )];
    }
    if kbd_on && pam_on {
        return vec![Finding::new(
            meta,
            RESOURCE,
            Status::Fail,
            ReasonCode::SshPasswordAuthEnabled,
            format!(
                "KbdInteractiveAuthentication is yes ({}) with UsePAM yes ({}): PAM accepts \
                 passwords through keyboard-interactive authentication",
                kbd.origin, pam.origin
            ),
        )];
    }
    let reenabled = data
        .in_match("passwordauthentication")
        .chain(
            data.in_match("kbdinteractiveauthentication")
                .filter(|_| pam_on),
        )
        .find(|m| m.setting.first_value() != "no");
    if let Some(m) = reenabled {
        return vec![Finding::new(
            meta,
            RESOURCE,
            Status::Fail,
            ReasonCode::SshPasswordAuthEnabled,
            format!(
                "globally disabled, but the block `Match {}` sets {} {} ({})",
                m.criteria,
                m.setting.keyword,
                m.setting.value,
                m.setting.location()
            ),
        )];
    }
    let kbd_note = if kbd_on {
        " (KbdInteractiveAuthentication is yes but UsePAM is no, so it cannot check passwords)"
    } else {
        ""
    };
    vec![Finding::new(
        meta,
        RESOURCE,
        Status::Pass,
        ReasonCode::SshPasswordAuthDisabled,
        format!(
            "PasswordAuthentication is no ({}){kbd_note}; no Match block re-enables it",
            pw.origin
        ),
    )]
}

// ---------------------------------------------------------------------------

/// Metadata of [`ROOT_LOGIN_RESTRICTED`].
pub const ROOT_LOGIN_RESTRICTED_META: CheckMeta = CheckMeta {
    id: "host_sshd_root_login_restricted",
    title: "SSH daemon does not permit root login with a password",
    severity: Severity::High,
    controls: &["A.8.2", "A.8.5"],
    source: SOURCE,
    rationale: "Direct root login over SSH with a password exposes the most privileged \
                account to guessing and leaves no record of which person used it.",
    remediation: "Set `PermitRootLogin no` (or `prohibit-password`) in /etc/ssh/sshd_config, \
                  remove `PermitRootLogin yes` from Match blocks, and reload sshd.",
    max_age_days: 7,
};

/// `PermitRootLogin` is `no`, `prohibit-password`/`without-password` or
/// `forced-commands-only`, globally and in every `Match` block.
pub const ROOT_LOGIN_RESTRICTED: Check = Check {
    meta: ROOT_LOGIN_RESTRICTED_META,
    evaluate: evaluate_root_login,
};

/// `Some(true)` when the value restricts root login, `Some(false)` for `yes`.
fn root_login_restricted(value: &str) -> Option<bool> {
    match value {
        "no" | "prohibit-password" | "without-password" | "forced-commands-only" => Some(true),
        "yes" => Some(false),
        _ => None,
    }
}

fn evaluate_root_login(obs: &Observation) -> Vec<Finding> {
    let meta = &ROOT_LOGIN_RESTRICTED_META;
    let data = match prepare(meta, obs) {
        Ok(d) => d,
        Err(f) => return vec![f],
    };
    let eff = Effective::of(&data, "permitrootlogin", "prohibit-password");
    match root_login_restricted(&eff.value) {
        None => return vec![invalid(meta, "PermitRootLogin", &eff)],
        Some(false) => {
            return vec![Finding::new(
                meta,
                RESOURCE,
                Status::Fail,
                ReasonCode::SshRootLoginPermitted,
                format!("PermitRootLogin is yes ({})", eff.origin),
            )]
        }
        Some(true) => {}
    }
    if let Some(m) = data
        .in_match("permitrootlogin")
        .find(|m| root_login_restricted(&m.setting.first_value()) != Some(true))
    {
        return vec![Finding::new(
            meta,
            RESOURCE,
            Status::Fail,
            ReasonCode::SshRootLoginPermitted,
            format!(
                "PermitRootLogin is {} globally, but the block `Match {}` sets it to {} ({})",
                eff.value,
                m.criteria,
                m.setting.value,
                m.setting.location()
            ),
        )];
    }
    vec![Finding::new(
        meta,
        RESOURCE,
        Status::Pass,
        ReasonCode::SshRootLoginRestricted,
        format!(
            "PermitRootLogin is {} ({}); no Match block relaxes it",
            eff.value, eff.origin
        ),
    )]
}

// ---------------------------------------------------------------------------

/// Metadata of [`EMPTY_PASSWORDS_REFUSED`].
pub const EMPTY_PASSWORDS_REFUSED_META: CheckMeta = CheckMeta {
    id: "host_sshd_empty_passwords_refused",
    title: "SSH daemon refuses accounts with empty passwords",
    severity: Severity::Critical,
    controls: &["A.8.5"],
    source: SOURCE,
    rationale: "With PermitEmptyPasswords yes, any account without a password can log in \
                over the network with no secret at all.",
    remediation: "Set `PermitEmptyPasswords no` (the default) in /etc/ssh/sshd_config, remove \
                  it from Match blocks, and reload sshd.",
    max_age_days: 7,
};

/// `PermitEmptyPasswords` is `no`, globally and in every `Match` block.
pub const EMPTY_PASSWORDS_REFUSED: Check = Check {
    meta: EMPTY_PASSWORDS_REFUSED_META,
    evaluate: evaluate_empty_passwords,
};

fn evaluate_empty_passwords(obs: &Observation) -> Vec<Finding> {
    let meta = &EMPTY_PASSWORDS_REFUSED_META;
    let data = match prepare(meta, obs) {
        Ok(d) => d,
        Err(f) => return vec![f],
    };
    let eff = Effective::of(&data, "permitemptypasswords", "no");
    match yes_no(&eff.value) {
        None => return vec![invalid(meta, "PermitEmptyPasswords", &eff)],
        Some(true) => {
            return vec![Finding::new(
                meta,
                RESOURCE,
                Status::Fail,
                ReasonCode::SshEmptyPasswordsPermitted,
                format!("PermitEmptyPasswords is yes ({})", eff.origin),
            )]
        }
        Some(false) => {}
    }
    if let Some(m) = data
        .in_match("permitemptypasswords")
        .find(|m| m.setting.first_value() != "no")
    {
        return vec![Finding::new(
            meta,
            RESOURCE,
            Status::Fail,
            ReasonCode::SshEmptyPasswordsPermitted,
            format!(
                "PermitEmptyPasswords is no globally, but the block `Match {}` sets it to {} ({})",
                m.criteria,
                m.setting.value,
                m.setting.location()
            ),
        )];
    }
    vec![Finding::new(
        meta,
        RESOURCE,
        Status::Pass,
        ReasonCode::SshEmptyPasswordsRefused,
        format!(
            "PermitEmptyPasswords is no ({}); no Match block enables it",
            eff.origin
        ),
    )]
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::host::ProbeErrorKind;
    use crate::model::{Target, TargetKind};
    use chrono::TimeZone;

    fn setting(keyword: &str, value: &str, line: u32) -> SshdSetting {
        SshdSetting {
            keyword: keyword.into(),
            value: value.into(),
            file: "/etc/ssh/sshd_config".into(),
            line,
        }
    }

    fn base(settings: Vec<SshdSetting>) -> SshdObservation {
        SshdObservation {
            binary_present: true,
            config_present: true,
            config_path: "/etc/ssh/sshd_config".into(),
            files_read: vec!["/etc/ssh/sshd_config".into()],
            settings,
            match_settings: vec![],
            error: None,
        }
    }

    fn obs(data: &SshdObservation) -> Observation {
        Observation::new(
            SOURCE,
            Target {
                kind: TargetKind::Host,
                id: "h".into(),
            },
            chrono::Utc.timestamp_opt(1_700_000_000, 0).unwrap(),
            data,
        )
    }

    fn one(check: &Check, data: &SshdObservation) -> Finding {
        let f = (check.evaluate)(&obs(data));
        assert_eq!(f.len(), 1, "{f:?}");
        f.into_iter().next().unwrap()
    }

    #[test]
    fn password_auth_defaults_fail() {
        let f = one(&PASSWORD_AUTH_DISABLED, &base(vec![]));
        assert_eq!(f.status, Status::Fail);
        assert_eq!(f.reason_code, ReasonCode::SshPasswordAuthEnabled);
        assert!(f.reason.contains("default"), "{}", f.reason);
    }

    #[test]
    fn password_auth_no_passes_and_pam_kbd_fails() {
        let d = base(vec![setting("passwordauthentication", "no", 3)]);
        // kbd-interactive defaults to yes, but UsePAM defaults to no.
        let f = one(&PASSWORD_AUTH_DISABLED, &d);
        assert_eq!(f.status, Status::Pass, "{}", f.reason);

        let mut d2 = d.clone();
        d2.settings.push(setting("usepam", "yes", 5));
        let f = one(&PASSWORD_AUTH_DISABLED, &d2);
        assert_eq!(f.status, Status::Fail);
        assert!(f.reason.contains("UsePAM"), "{}", f.reason);

        d2.settings
            .push(setting("kbdinteractiveauthentication", "no", 6));
        assert_eq!(one(&PASSWORD_AUTH_DISABLED, &d2).status, Status::Pass);
    }

    #[test]
    fn match_block_reenabling_passwords_fails() {
        let mut d = base(vec![
            setting("passwordauthentication", "no", 3),
            setting("kbdinteractiveauthentication", "no", 4),
        ]);
        d.match_settings.push(SshdMatchSetting {
            criteria: "User backup".into(),
            setting: setting("passwordauthentication", "yes", 20),
        });
        let f = one(&PASSWORD_AUTH_DISABLED, &d);
        assert_eq!(f.status, Status::Fail);
        assert!(f.reason.contains("Match User backup"), "{}", f.reason);
        assert!(f.reason.contains(":20"), "{}", f.reason);
    }

    #[test]
    fn authentication_methods_publickey_only_passes() {
        let d = base(vec![setting("authenticationmethods", "publickey", 2)]);
        assert_eq!(one(&PASSWORD_AUTH_DISABLED, &d).status, Status::Pass);
        let d = base(vec![setting(
            "authenticationmethods",
            "publickey,password publickey",
            2,
        )]);
        assert_eq!(one(&PASSWORD_AUTH_DISABLED, &d).status, Status::Fail);
        assert!(methods_allow_password("publickey,keyboard-interactive:pam"));
        assert!(!methods_allow_password("publickey gssapi-with-mic"));
    }

    #[test]
    fn invalid_value_is_error() {
        let d = base(vec![setting("passwordauthentication", "maybe", 2)]);
        let f = one(&PASSWORD_AUTH_DISABLED, &d);
        assert_eq!(f.status, Status::Error);
        assert_eq!(f.reason_code, ReasonCode::Unreadable);
        let d = base(vec![setting("permitrootlogin", "sometimes", 2)]);
        assert_eq!(one(&ROOT_LOGIN_RESTRICTED, &d).status, Status::Error);
    }

    #[test]
    fn absent_unreadable_and_malformed() {
        let mut d = base(vec![]);
        d.binary_present = false;
        d.config_present = false;
        for check in [
            &PASSWORD_AUTH_DISABLED,
            &ROOT_LOGIN_RESTRICTED,
            &EMPTY_PASSWORDS_REFUSED,
        ] {
            let f = one(check, &d);
            assert_eq!(f.status, Status::NotApplicable);
            assert_eq!(f.reason_code, ReasonCode::ComponentAbsent);
        }

        let mut d = base(vec![setting("passwordauthentication", "no", 1)]);
        d.error = Some(ProbeError::new(
            ProbeErrorKind::PermissionDenied,
            "requires root to read /etc/ssh/sshd_config",
        ));
        let f = one(&PASSWORD_AUTH_DISABLED, &d);
        assert_eq!(f.status, Status::Error);
        assert_eq!(f.reason_code, ReasonCode::PermissionDenied);

        let mut d = base(vec![]);
        d.config_present = false;
        assert_eq!(one(&EMPTY_PASSWORDS_REFUSED, &d).status, Status::Error);

        let mut o = obs(&base(vec![]));
        o.data = serde_json::json!({"surprise": 1});
        for check in [
            &PASSWORD_AUTH_DISABLED,
            &ROOT_LOGIN_RESTRICTED,
            &EMPTY_PASSWORDS_REFUSED,
        ] {
            let f = (check.evaluate)(&o);
            assert_eq!(f.len(), 1);
            assert_eq!(f[0].reason_code, ReasonCode::ObservationMalformed);
        }
    }

    #[test]
    fn root_login_values() {
        for (value, status) in [
            ("no", Status::Pass),
            ("prohibit-password", Status::Pass),
            ("without-password", Status::Pass),
            ("forced-commands-only", Status::Pass),
            ("yes", Status::Fail),
        ] {
            let d = base(vec![setting("permitrootlogin", value, 7)]);
            assert_eq!(one(&ROOT_LOGIN_RESTRICTED, &d).status, status, "{value}");
        }
        // Default is prohibit-password.
        let f = one(&ROOT_LOGIN_RESTRICTED, &base(vec![]));
        assert_eq!(f.status, Status::Pass);
        assert_eq!(f.reason_code, ReasonCode::SshRootLoginRestricted);

        let mut d = base(vec![setting("permitrootlogin", "no", 7)]);
        d.match_settings.push(SshdMatchSetting {
            criteria: "Address 10.0.0.0/8".into(),
            setting: setting("permitrootlogin", "yes", 30),
        });
        let f = one(&ROOT_LOGIN_RESTRICTED, &d);
        assert_eq!(f.status, Status::Fail);
        assert_eq!(f.reason_code, ReasonCode::SshRootLoginPermitted);
    }

    #[test]
    fn empty_passwords() {
        let f = one(&EMPTY_PASSWORDS_REFUSED, &base(vec![]));
        assert_eq!(f.status, Status::Pass);
        assert_eq!(f.reason_code, ReasonCode::SshEmptyPasswordsRefused);
        let d = base(vec![setting("permitemptypasswords", "yes", 9)]);
        let f = one(&EMPTY_PASSWORDS_REFUSED, &d);
        assert_eq!(f.status, Status::Fail);
        assert_eq!(f.reason_code, ReasonCode::SshEmptyPasswordsPermitted);
        let mut d = base(vec![]);
        d.match_settings.push(SshdMatchSetting {
            criteria: "Group guests".into(),
            setting: setting("permitemptypasswords", "yes", 30),
        });
        assert_eq!(one(&EMPTY_PASSWORDS_REFUSED, &d).status, Status::Fail);
    }
}
