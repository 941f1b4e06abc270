//! Canonical JSON: object keys sorted by byte order, no insignificant whitespace.
//!
//! Records contain only strings, integers, booleans, null, arrays and objects
//! (never floats), so for them this encoding coincides with RFC 8785 (JCS).
//! Keys are sorted here explicitly rather than relying on `serde_json`'s map
//! order, which a `preserve_order` feature anywhere in the build would change.

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Encode `value` canonically.
pub fn to_canonical<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    // Invariant: our record and observation types serialise to JSON without
    // error (no non-string map keys, no non-finite floats).
    #[allow(clippy::expect_used)]
    let v = serde_json::to_value(value).expect("record types always serialise to JSON");
    let mut out = Vec::with_capacity(512);
    write_value(&v, &mut out);
    out
}

fn write_value(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (k, val)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(k, out);
                out.push(b':');
                write_value(val, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(item, out);
            }
            out.push(b']');
        }
        scalar => write_scalar(scalar, out),
    }
}

fn write_str(s: &str, out: &mut Vec<u8>) {
    // Invariant: writing a string into a Vec cannot fail.
    #[allow(clippy::expect_used)]
    serde_json::to_writer(&mut *out, s).expect("a string serialises");
}

fn write_scalar(v: &Value, out: &mut Vec<u8>) {
    // Invariant: writing a scalar JSON value into a Vec cannot fail.
    #[allow(clippy::expect_used)]
    serde_json::to_writer(&mut *out, v).expect("scalar JSON serialises");
}

/// `sha256:<hex>` of the given bytes.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_nested_keys_and_drops_whitespace() {
        let v: Value = serde_json::from_str(
            r#"{ "b": 1, "a": {"z": [1, {"y": null, "x": true}], "c": "é\n"} }"#,
        )
        .expect("test json");
        assert_eq!(
            String::from_utf8(to_canonical(&v)).expect("utf8"),
            r#"{"a":{"c":"é\n","z":[1,{"x":true,"y":null}]},"b":1}"#
        );
    }
}
