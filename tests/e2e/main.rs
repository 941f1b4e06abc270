//! End-to-end tests of the evident binary.
