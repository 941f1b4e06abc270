//! Backup restore tests (in progress).
