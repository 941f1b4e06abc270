//! The Linux host collector.
