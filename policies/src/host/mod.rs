//! Checks on Linux hosts. Observation payload types live here too, so that
//! collectors and checks share one definition.

use crate::model::Check;

/// The host checks.
pub static CHECKS: &[Check] = &[];
