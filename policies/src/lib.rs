//! Annex A catalog, checks and Statement of Applicability logic for `evident`.
//!
//! Checks are pure: a function from an [`Observation`] to [`Finding`]s, with
//! their metadata ([`CheckMeta`]) declared as data beside the code. They do
//! no I/O; collectors (in `evident-collectors`) do.
#![forbid(unsafe_code)]

pub mod aws;
pub mod backup;
pub mod catalog;
pub mod dlp;
pub mod drift;
pub mod github;
pub mod host;
pub mod model;
pub mod readiness;
pub mod reason;
pub mod soa;
pub mod webfilter;

pub use model::{Check, CheckMeta, Finding, Observation, Severity, Status, Target, TargetKind};
pub use reason::ReasonCode;

/// Every check this build knows, in a stable order.
pub fn checks() -> Vec<&'static Check> {
    host::CHECKS
        .iter()
        .chain(backup::CHECKS)
        .chain(webfilter::CHECKS)
        .chain(github::CHECKS)
        .chain(dlp::CHECKS)
        .chain(aws::CHECKS)
        .collect()
}

/// Look a check up by id.
pub fn check(id: &str) -> Option<&'static Check> {
    checks().into_iter().find(|c| c.meta.id == id)
}

/// The checks that read observations of `source`.
pub fn checks_for_source(source: &str) -> impl Iterator<Item = &'static Check> + '_ {
    checks()
        .into_iter()
        .filter(move |c| c.meta.source == source)
}

/// Run every check subscribed to the observation's source.
pub fn evaluate(obs: &Observation) -> Vec<Finding> {
    checks_for_source(&obs.source)
        .flat_map(|c| (c.evaluate)(obs))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_ids_are_unique_and_well_formed() {
        let mut seen = std::collections::BTreeSet::new();
        for c in checks() {
            let id = c.meta.id;
            assert!(seen.insert(id), "two checks share the id {id}");
            let parts: Vec<&str> = id.split('_').collect();
            assert!(
                parts.len() >= 3,
                "{id} is not <area>_<resource>_<expected_state>"
            );
            assert!(
                id.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{id} is not snake_case"
            );
        }
        assert!(!seen.is_empty(), "no checks registered");
    }

    #[test]
    fn every_check_names_catalog_controls_and_has_metadata() {
        for c in checks() {
            let m = &c.meta;
            assert!(!m.controls.is_empty(), "{} evidences no control", m.id);
            for ctl in m.controls {
                let found = catalog::control(ctl);
                assert!(
                    found.is_some(),
                    "{} names {ctl}, which is not in Annex A",
                    m.id
                );
                assert_eq!(
                    found.map(|c| c.id.as_str()),
                    Some(*ctl),
                    "{}: write controls as A.x.y",
                    m.id
                );
            }
            assert!(
                !m.title.is_empty() && !m.rationale.is_empty() && !m.remediation.is_empty(),
                "{}",
                m.id
            );
            assert!(m.max_age_days > 0, "{} has no max evidence age", m.id);
        }
    }
}
