//! `[[collectors.backup]]`: restore tests of restic, borg and PostgreSQL backups.

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use evident_collectors::backup::{self, BackupSet, BackupSettings};
use evident_policies::{Observation, Target, TargetKind};

use crate::config::{Place, Problem};
use crate::daemon::{BoxFut, RunFailure};
use crate::instances::{HasCommon, Kind};

crate::collector_instance! {
    /// `[[collectors.backup]]`: restores the newest backup of each set into a sandbox and verifies it.
    pub struct BackupInstance {
        /// Directory in which the sandbox directories are created (and removed). Default: the system temp dir.
        #[serde(default)]
        pub sandbox_dir: Option<PathBuf>,
        /// The backup sets (`[[collectors.backup.sets]]`).
        pub sets: Vec<BackupSet>,
    }
}

impl BackupInstance {
    /// The collector's own settings. Tool calls get a little less than the
    /// run timeout, so that the sandbox is removed before the run is abandoned.
    pub fn settings(&self) -> BackupSettings {
        BackupSettings {
            sets: self.sets.clone(),
            sandbox_parent: self.sandbox_dir.clone().unwrap_or_else(std::env::temp_dir),
            time_limit: Duration::from_secs(self.timeout_seconds.saturating_sub(5).max(1)),
        }
    }
}

impl Kind for BackupInstance {
    const KIND: &'static str = "backup";

    fn sources(&self) -> &'static [&'static str] {
        &[evident_policies::backup::SOURCE]
    }

    fn target(&self) -> Target {
        Target {
            kind: TargetKind::Service,
            id: format!("backup:{}", self.common().name.unwrap_or("backup")),
        }
    }

    fn validate(&self, at: &Place<'_>, problems: &mut Vec<Problem>) {
        if self.sets.is_empty() {
            problems.push(
                at.key("sets")
                    .problem("a backup collector needs at least one [[collectors.backup.sets]]"),
            );
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, s) in self.sets.iter().enumerate() {
            let set = at.key("sets").item(i);
            if !names.insert(s.name.as_str()) {
                problems.push(
                    set.key("name")
                        .problem(&format!("backup set name {:?} is used twice", s.name)),
                );
            }
            for p in s.problems() {
                problems.push(set.setting(&p));
            }
        }
        if let Some(d) = &self.sandbox_dir {
            if !d.is_absolute() {
                problems.push(
                    at.key("sandbox_dir")
                        .problem("sandbox_dir must be an absolute path"),
                );
            }
        }
    }

    fn collect(&self, now: DateTime<Utc>) -> BoxFut<Result<Vec<Observation>, RunFailure>> {
        let settings = self.settings();
        let target = self.target();
        Box::pin(async move {
            // Tool runs with their own timeouts: a blocking thread.
            tokio::task::spawn_blocking(move || vec![backup::collect(&settings, target, now)])
                .await
                .map_err(|e| RunFailure {
                    transient: false,
                    message: format!("backup collector task failed: {e}"),
                })
        })
    }
}
