//! Collector instances in the configuration: the fields every kind shares,
//! the [`Kind`] trait each kind implements, and the one list of kinds
//! ([`collector_kinds!`]) from which `[collectors]`, [`AnyInstance`] and its
//! dispatch are generated, so adding a kind is one line here plus its module
//! under `kinds/`.

use std::ops::Range;
use std::time::Duration;

use chrono::{DateTime, Utc};
use evident_policies::{Observation, Target};
use serde::Deserialize;
use toml::Spanned;

use crate::config::{Place, Problem};
use crate::daemon::{BoxFut, RunFailure};
use crate::schedule::{CronSchedule, ScheduleError};

/// Scheduling options every collector instance has.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Parsed schedule.
    pub schedule: CronSchedule,
    /// Random delay added to each scheduled time, up to this.
    pub jitter: Duration,
    /// Limit for one run's collection, retries included.
    pub timeout: Duration,
    /// Retries of a transient failure within the timeout.
    pub retries: u32,
}

/// The fields every collector instance has, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct Common<'a> {
    /// `name`, if set.
    pub name: Option<&'a str>,
    /// `enabled`.
    pub enabled: bool,
    /// `checks`, if set.
    pub checks: Option<&'a [Spanned<String>]>,
    /// `schedule`.
    pub schedule: &'a Spanned<String>,
    /// `jitter_seconds`.
    pub jitter_seconds: u64,
    /// `timeout_seconds`.
    pub timeout_seconds: u64,
    /// `retries`.
    pub retries: u32,
}

impl Common<'_> {
    /// Whether the instance runs this check.
    pub fn selects(&self, check_id: &str) -> bool {
        self.checks
            .is_none_or(|list| list.iter().any(|c| c.get_ref() == check_id))
    }

    /// The scheduling options.
    pub fn run_options(&self) -> Result<RunOptions, ScheduleError> {
        Ok(RunOptions {
            schedule: CronSchedule::parse(self.schedule.get_ref())?,
            jitter: Duration::from_secs(self.jitter_seconds),
            timeout: Duration::from_secs(self.timeout_seconds),
            retries: self.retries,
        })
    }
}

/// Access to the common fields (implemented by [`collector_instance!`]).
pub trait HasCommon {
    /// The common fields.
    fn common(&self) -> Common<'_>;
}

/// A kind of collector.
pub trait Kind: HasCommon + std::fmt::Debug + Send + Sync {
    /// The kind's name in the configuration (`[[collectors.<KIND>]]`).
    const KIND: &'static str;
    /// The observation sources its collector produces.
    fn sources(&self) -> &'static [&'static str];
    /// The target its findings are about when the collector fails as a whole.
    fn target(&self) -> Target;
    /// Kind-specific validation (the common fields are validated generically):
    /// each problem reported at the setting it is about, found from `at`, the
    /// instance's table.
    fn validate(&self, _at: &Place<'_>, _problems: &mut Vec<Problem>) {}
    /// Collect: I/O only, no evaluation. The future owns what it needs.
    fn collect(&self, now: DateTime<Utc>) -> BoxFut<Result<Vec<Observation>, RunFailure>>;
}

/// Default of `enabled`.
pub fn default_true() -> bool {
    true
}
/// Default of `schedule`.
pub fn default_schedule() -> Spanned<String> {
    Spanned::new(0..0, "@hourly".to_string())
}
/// Default of `timeout_seconds`.
pub fn default_timeout() -> u64 {
    300
}
/// Default of `retries`.
pub fn default_retries() -> u32 {
    2
}

/// Define a collector instance struct: the common fields (name, enabled,
/// checks, schedule, jitter_seconds, timeout_seconds, retries) followed by
/// the kind's own. serde's `flatten` would lose `deny_unknown_fields` and
/// the line numbers of errors, hence a macro.
#[macro_export]
macro_rules! collector_instance {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$fmeta:meta])* pub $field:ident : $fty:ty, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            /// Name of this instance, unique across all collectors. Default: the kind.
            pub name: Option<String>,
            /// Set to false to keep the instance configured but not run. Default: true.
            #[serde(default = "crate::instances::default_true")]
            pub enabled: bool,
            /// Run only these checks (ids from `evident checks`). Default: all of this kind.
            pub checks: Option<Vec<toml::Spanned<String>>>,
            /// When the daemon runs it: crontab(5) syntax in UTC. Default: `@hourly`.
            #[serde(default = "crate::instances::default_schedule")]
            pub schedule: toml::Spanned<String>,
            /// Random delay in seconds added to each scheduled run. Default: 0.
            #[serde(default)]
            pub jitter_seconds: u64,
            /// Limit in seconds for one run's collection, retries included. Default: 300.
            #[serde(default = "crate::instances::default_timeout")]
            pub timeout_seconds: u64,
            /// Retries of a transient failure within the timeout. Default: 2.
            #[serde(default = "crate::instances::default_retries")]
            pub retries: u32,
            $( $(#[$fmeta])* pub $field : $fty, )*
        }

        impl $crate::instances::HasCommon for $name {
            fn common(&self) -> $crate::instances::Common<'_> {
                $crate::instances::Common {
                    name: self.name.as_deref(),
                    enabled: self.enabled,
                    checks: self.checks.as_deref(),
                    schedule: &self.schedule,
                    jitter_seconds: self.jitter_seconds,
                    timeout_seconds: self.timeout_seconds,
                    retries: self.retries,
                }
            }
        }
    };
}

/// The one list of collector kinds.
macro_rules! collector_kinds {
    ( $( $(#[doc = $doc:literal])* $(#[cfg($cfg:meta)])? $field:ident => $variant:ident($ty:ty), )+ ) => {
        /// `[collectors]`: one array of tables per kind of collector.
        #[derive(Debug, Default, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct Collectors {
            $( $(#[doc = $doc])* $(#[cfg($cfg)])? #[serde(default)] pub $field: Vec<Spanned<$ty>>, )+
        }

        /// Any collector instance, borrowed from the configuration.
        #[derive(Debug, Clone, Copy)]
        #[non_exhaustive]
        pub enum AnyInstance<'a> {
            $( $(#[cfg($cfg)])? #[allow(missing_docs)] $variant(&'a $ty), )+
        }

        impl Collectors {
            /// Every instance with the span of its table, in kind order then file order.
            pub fn all(&self) -> Vec<(AnyInstance<'_>, Range<usize>)> {
                let mut out = Vec::new();
                $( $(#[cfg($cfg)])? out.extend(self.$field.iter().map(|s| (AnyInstance::$variant(s.get_ref()), s.span()))); )+
                out
            }
        }

        impl AnyInstance<'_> {
            /// The kind (`host`, …).
            pub fn kind(&self) -> &'static str {
                match self { $( $(#[cfg($cfg)])? AnyInstance::$variant(_) => <$ty as Kind>::KIND, )+ }
            }
            /// The common fields.
            pub fn common(&self) -> Common<'_> {
                match self { $( $(#[cfg($cfg)])? AnyInstance::$variant(i) => i.common(), )+ }
            }
            /// The instance's name (default: its kind).
            pub fn name(&self) -> &str {
                self.common().name.unwrap_or(self.kind())
            }
            /// Observation sources of its collector.
            pub fn sources(&self) -> &'static [&'static str] {
                match self { $( $(#[cfg($cfg)])? AnyInstance::$variant(i) => i.sources(), )+ }
            }
            /// Target of its findings when it fails as a whole.
            pub fn target(&self) -> Target {
                match self { $( $(#[cfg($cfg)])? AnyInstance::$variant(i) => i.target(), )+ }
            }
            /// Kind-specific validation.
            pub fn validate(&self, at: &Place<'_>, problems: &mut Vec<Problem>) {
                match self { $( $(#[cfg($cfg)])? AnyInstance::$variant(i) => i.validate(at, problems), )+ }
            }
            /// Collect.
            pub fn collect(&self, now: DateTime<Utc>) -> BoxFut<Result<Vec<Observation>, RunFailure>> {
                match self { $( $(#[cfg($cfg)])? AnyInstance::$variant(i) => i.collect(now), )+ }
            }
        }
    };
}

collector_kinds! {
    /// `[[collectors.host]]`: the Linux machine the agent runs on.
    host => Host(crate::kinds::host::HostInstance),
    /// `[[collectors.backup]]`: restore tests of restic, borg and PostgreSQL backups.
    backup => Backup(crate::kinds::backup::BackupInstance),
    /// `[[collectors.webfilter]]`: DNS and proxy web filtering probes.
    webfilter => Webfilter(crate::kinds::webfilter::WebfilterInstance),
    /// `[[collectors.github]]`: GitHub organisations.
    github => Github(crate::kinds::github::GithubInstance),
    /// `[[collectors.dlp]]`: secrets and personal data in file trees and git histories.
    dlp => Dlp(crate::kinds::dlp::DlpInstance),
    /// `[[collectors.aws]]`: AWS accounts (needs the `aws` cargo feature, on by default).
    #[cfg(feature = "aws")]
    aws => Aws(crate::kinds::aws::AwsInstance),
}
