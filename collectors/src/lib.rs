//! Collectors for `evident`: each talks to one system and returns redacted
//! observations. Collectors do I/O and nothing else; checks (in
//! `evident-policies`) decide.
#![forbid(unsafe_code)]

pub mod backup;
pub mod host;
pub mod webfilter;

/// A problem of one setting in a collector's configuration, with the key it
/// is about, so that the agent can report it at that key's line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingProblem {
    /// The key, in the table the settings were read from (e.g. `rpo_hours`).
    pub key: &'static str,
    /// For a list-valued key, the element the problem is about.
    pub index: Option<usize>,
    /// What is wrong, for a person.
    pub message: String,
}

impl SettingProblem {
    /// A problem of `key`.
    pub fn new(key: &'static str, message: impl Into<String>) -> SettingProblem {
        SettingProblem {
            key,
            index: None,
            message: message.into(),
        }
    }

    /// A problem of element `index` of the list `key`.
    pub fn item(key: &'static str, index: usize, message: impl Into<String>) -> SettingProblem {
        SettingProblem {
            key,
            index: Some(index),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for SettingProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

#[cfg(test)]
pub(crate) mod testutil;
