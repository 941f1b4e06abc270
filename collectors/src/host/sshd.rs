//! Reads sshd's configuration the way sshd does and records the effective
//! values of the keywords the checks need (never whole files).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use evident_policies::host::sshd::KEYWORDS;
use evident_policies::host::{
    ProbeError, ProbeErrorKind, SshdMatchSetting, SshdObservation, SshdSetting,
};

use super::fs::{host_path, io_error, on_host};

/// Host path of the main configuration file.
const CONFIG: &str = "/etc/ssh/sshd_config";
/// Directory relative `Include` patterns are resolved against.
const CONFIG_DIR: &str = "/etc/ssh";
/// Where the sshd binary may live.
const BINARIES: &[&str] = &["/usr/sbin/sshd", "/usr/bin/sshd"];
/// sshd's own limit on nested `Include`s.
const MAX_INCLUDE_DEPTH: u32 = 16;

/// Observe sshd under `root`.
pub(crate) fn observe(root: &Path) -> SshdObservation {
    let binary_present = BINARIES
        .iter()
        .any(|b| on_host(root, b).symlink_metadata().is_ok());
    let mut obs = SshdObservation {
        binary_present,
        config_present: false,
        config_path: CONFIG.to_string(),
        files_read: Vec::new(),
        settings: Vec::new(),
        match_settings: Vec::new(),
        error: None,
    };
    let main = on_host(root, CONFIG);
    match main.symlink_metadata() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return obs,
        // Present but not even stat-able: let the read below report it.
        _ => obs.config_present = true,
    }
    let mut parser = Parser {
        root,
        obs: &mut obs,
        match_seen: HashSet::new(),
    };
    if let Err(e) = parser.read_file(&main, None, 0) {
        obs.error = Some(e);
    }
    obs
}

/// The `Match` block a line belongs to.
#[derive(Clone)]
struct MatchBlock {
    criteria: String,
    /// `file:line` of the `Match` line, identifying the block.
    at: String,
}

struct Parser<'a> {
    root: &'a Path,
    obs: &'a mut SshdObservation,
    /// (block, keyword) pairs already set: first value wins inside a block too.
    match_seen: HashSet<(String, String)>,
}

impl Parser<'_> {
    fn read_file(
        &mut self,
        path: &Path,
        mut block: Option<MatchBlock>,
        depth: u32,
    ) -> Result<(), ProbeError> {
        let shown = host_path(self.root, path);
        let bytes = std::fs::read(path).map_err(|e| io_error(&e, &shown))?;
        let text = String::from_utf8_lossy(&bytes);
        self.obs.files_read.push(shown.clone());
        for (index, raw) in text.lines().enumerate() {
            let line = u32::try_from(index + 1).unwrap_or(u32::MAX);
            let Some((keyword, args)) = split_line(raw) else {
                continue;
            };
            match keyword.as_str() {
                "match" => {
                    block = Some(MatchBlock {
                        criteria: args.join(" "),
                        at: format!("{shown}:{line}"),
                    });
                }
                "include" => {
                    if depth + 1 > MAX_INCLUDE_DEPTH {
                        return Err(ProbeError::new(
                            ProbeErrorKind::Unreadable,
                            format!(
                                "Include nested deeper than {MAX_INCLUDE_DEPTH} at {shown}:{line}"
                            ),
                        ));
                    }
                    for pattern in &args {
                        for file in self.expand(pattern, &shown, line)? {
                            // A Match inside an included file ends with that file.
                            self.read_file(&file, block.clone(), depth + 1)?;
                        }
                    }
                }
                k => {
                    let k = if k == "challengeresponseauthentication" {
                        "kbdinteractiveauthentication"
                    } else {
                        k
                    };
                    if !KEYWORDS.contains(&k) {
                        continue;
                    }
                    let setting = SshdSetting {
                        keyword: k.to_string(),
                        value: args.join(" "),
                        file: shown.clone(),
                        line,
                    };
                    match &block {
                        None => {
                            if self.obs.global(k).is_none() {
                                self.obs.settings.push(setting);
                            }
                        }
                        Some(b) => {
                            if self.match_seen.insert((b.at.clone(), k.to_string())) {
                                self.obs.match_settings.push(SshdMatchSetting {
                                    criteria: b.criteria.clone(),
                                    setting,
                                });
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Expand an `Include` pattern (glob, relative to /etc/ssh) to existing files, sorted.
    fn expand(&self, pattern: &str, file: &str, line: u32) -> Result<Vec<PathBuf>, ProbeError> {
        let host = if pattern.starts_with('/') {
            pattern.to_string()
        } else {
            format!("{CONFIG_DIR}/{pattern}")
        };
        let prefix = glob::Pattern::escape(&self.root.to_string_lossy());
        let full = format!("{}{}", prefix.trim_end_matches('/'), host);
        let paths = glob::glob(&full).map_err(|e| {
            ProbeError::new(
                ProbeErrorKind::Unreadable,
                format!("invalid Include pattern {pattern:?} at {file}:{line}: {e}"),
            )
        })?;
        let mut out = Vec::new();
        for p in paths {
            match p {
                Ok(p) => out.push(p),
                Err(e) => {
                    let shown = host_path(self.root, e.path());
                    return Err(io_error(e.error(), &shown));
                }
            }
        }
        out.sort();
        Ok(out)
    }
}

/// Split a configuration line into its lower-case keyword and arguments;
/// `None` for blank lines and comments. Accepts `Keyword value`,
/// `Keyword=value` and `Keyword = value`; double quotes group an argument;
/// an argument starting with `#` starts a comment.
fn split_line(raw: &str) -> Option<(String, Vec<String>)> {
    let line = raw.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let end = line
        .find(|c: char| c.is_whitespace() || c == '=')
        .unwrap_or(line.len());
    let keyword = line[..end].to_ascii_lowercase();
    let mut rest = line[end..].trim_start();
    if let Some(r) = rest.strip_prefix('=') {
        rest = r.trim_start();
    }
    let mut args = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(&first) = chars.peek() else { break };
        if first == '#' {
            break;
        }
        let mut arg = String::new();
        if first == '"' {
            chars.next();
            for c in chars.by_ref() {
                if c == '"' {
                    break;
                }
                arg.push(c);
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                arg.push(c);
                chars.next();
            }
        }
        args.push(arg);
    }
    Some((keyword, args))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn splits_lines() {
        assert_eq!(split_line("  # comment"), None);
        assert_eq!(split_line(""), None);
        let (k, a) = split_line("PasswordAuthentication=no").unwrap();
        assert_eq!(
            (k.as_str(), a),
            ("passwordauthentication", vec!["no".to_string()])
        );
        let (k, a) = split_line("\tPermitRootLogin = yes # trailing").unwrap();
        assert_eq!(
            (k.as_str(), a),
            ("permitrootlogin", vec!["yes".to_string()])
        );
        let (_, a) = split_line("Include \"conf d/*.conf\" other.conf").unwrap();
        assert_eq!(
            a,
            vec!["conf d/*.conf".to_string(), "other.conf".to_string()]
        );
    }
}
