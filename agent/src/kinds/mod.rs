//! One module per kind of collector: its configuration and how it collects.

#[cfg(feature = "aws")]
pub mod aws;
pub mod backup;
pub mod dlp;
pub mod dlp_s3;
pub mod github;
pub mod host;
pub mod webfilter;
