//! One module per kind of collector: its configuration and how it collects.

pub mod backup;
pub mod dlp;
pub mod github;
pub mod host;
pub mod webfilter;
