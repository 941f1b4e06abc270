//! Tests of the collector against a real moto server (one per test binary,
//! on a free loopback port, stopped when the binary exits) and, where moto
//! does not serve an API faithfully, a local HTTP stub serving the response
//! shapes AWS documents (see `stub`).

mod backup_stub;
mod faketime;
mod faults;
mod moto;
mod moto_backup;
mod network;
mod s3_dlp;
pub(crate) mod stub;
