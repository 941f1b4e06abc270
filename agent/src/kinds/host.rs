//! `[[collectors.host]]`: the Linux machine the agent runs on.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use evident_collectors::host::{HostCollector, HostSettings};
use evident_policies::{Observation, Target, TargetKind};

use crate::config::{Place, Problem};
use crate::daemon::{BoxFut, RunFailure};
use crate::instances::Kind;

crate::collector_instance! {
    /// `[[collectors.host]]`: checks on the Linux machine the agent runs on.
    pub struct HostInstance {
        /// Root of the file system to inspect. Default `/`; another path inspects a mounted image.
        #[serde(default = "default_root")]
        pub root: PathBuf,
        /// Maximum age in days of the apt package index before pending updates are unknowable. Default: 7.
        #[serde(default = "default_apt_age")]
        pub apt_index_max_age_days: u32,
        /// Maximum age in days of the malware signatures (ClamAV's newest database). Default: 3.
        #[serde(default = "default_malware_signature_age")]
        pub malware_signature_max_age_days: u32,
    }
}

fn default_root() -> PathBuf {
    PathBuf::from("/")
}
fn default_apt_age() -> u32 {
    7
}
fn default_malware_signature_age() -> u32 {
    3
}

impl HostInstance {
    /// The collector's own settings.
    pub fn settings(&self) -> HostSettings {
        HostSettings {
            root: self.root.clone(),
            apt_index_max_age_days: self.apt_index_max_age_days,
            malware_signature_max_age_days: self.malware_signature_max_age_days,
        }
    }
}

impl Kind for HostInstance {
    const KIND: &'static str = "host";

    fn sources(&self) -> &'static [&'static str] {
        HostCollector::sources()
    }

    fn target(&self) -> Target {
        Target {
            kind: TargetKind::Host,
            id: crate::paths::host_name(),
        }
    }

    fn validate(&self, at: &Place<'_>, problems: &mut Vec<Problem>) {
        if !self.root.is_absolute() {
            problems.push(at.key("root").problem(&format!(
                "root {:?} must be an absolute path",
                self.root.display().to_string()
            )));
        } else if !self.root.is_dir() {
            // A mistyped root would make every check "not applicable".
            problems.push(at.key("root").problem(&format!(
                "root {:?} is not an existing directory",
                self.root.display().to_string()
            )));
        }
    }

    fn collect(&self, now: DateTime<Utc>) -> BoxFut<Result<Vec<Observation>, RunFailure>> {
        let settings = self.settings();
        Box::pin(async move {
            // File reads and small commands: a blocking thread.
            tokio::task::spawn_blocking(move || HostCollector::new(&settings).collect(now))
                .await
                .map_err(|e| RunFailure {
                    transient: false,
                    message: format!("host collector task failed: {e}"),
                })
        })
    }
}
