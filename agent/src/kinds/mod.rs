//! One module per kind of collector: its configuration and how it collects.

pub mod dlp;
pub mod host;
