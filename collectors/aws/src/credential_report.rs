//! Parsing the IAM credential report (CSV, as documented in the IAM user
//! guide, "Getting credential reports"), with its special values:
//! `N/A`, `not_supported`, `no_information` and the `<root_account>` row.
//! Columns are found by header name; a missing column, a row of the wrong
//! width or a value outside the documented ones is an error, never a guess.

use chrono::{DateTime, Utc};
use evident_policies::aws::iam::{CredentialReport, CredentialRow, ReportAccessKey, ReportTime};

/// Why a report could not be parsed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReportError {
    /// The report is not UTF-8.
    #[error("the credential report is not UTF-8")]
    NotUtf8,
    /// The report is empty.
    #[error("the credential report is empty")]
    Empty,
    /// A documented column is missing from the header.
    #[error("the credential report has no column {0}")]
    MissingColumn(&'static str),
    /// A row has a different number of fields than the header.
    #[error("row {row} has {got} fields, the header {want}")]
    Width {
        /// 1-based row number (header is 0).
        row: usize,
        /// Fields in the row.
        got: usize,
        /// Fields in the header.
        want: usize,
    },
    /// A value is not one the documentation allows for its column.
    #[error("row {row}: column {column} has the unexpected value {value:?}")]
    Value {
        /// 1-based row number.
        row: usize,
        /// Column name.
        column: &'static str,
        /// The value (never a secret: the report holds no credential values).
        value: String,
    },
}

const COLUMNS: &[&str] = &[
    "user",
    "arn",
    "user_creation_time",
    "password_enabled",
    "password_last_used",
    "password_last_changed",
    "mfa_active",
    "access_key_1_active",
    "access_key_1_last_rotated",
    "access_key_1_last_used_date",
    "access_key_2_active",
    "access_key_2_last_rotated",
    "access_key_2_last_used_date",
];

/// Parse the CSV content of GetCredentialReport.
pub fn parse(content: &[u8], generated_at: DateTime<Utc>) -> Result<CredentialReport, ReportError> {
    let text = std::str::from_utf8(content).map_err(|_| ReportError::NotUtf8)?;
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines
        .next()
        .ok_or(ReportError::Empty)?
        .split(',')
        .map(str::trim)
        .collect();
    let mut idx = [0usize; 13];
    for (slot, name) in idx.iter_mut().zip(COLUMNS) {
        *slot = header
            .iter()
            .position(|h| h == name)
            .ok_or(ReportError::MissingColumn(name))?;
    }
    let mut rows = Vec::new();
    for (n, line) in lines.enumerate() {
        let row = n + 1;
        // The documented report quotes nothing: names and ARNs cannot contain commas.
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() != header.len() {
            return Err(ReportError::Width {
                row,
                got: fields.len(),
                want: header.len(),
            });
        }
        let get = |i: usize| fields[idx[i]];
        let time = |i: usize| {
            parse_time(get(i)).ok_or_else(|| ReportError::Value {
                row,
                column: COLUMNS[i],
                value: get(i).to_string(),
            })
        };
        let boolean = |i: usize| {
            parse_bool(get(i)).ok_or_else(|| ReportError::Value {
                row,
                column: COLUMNS[i],
                value: get(i).to_string(),
            })
        };
        let user = get(0).to_string();
        let password_enabled = match get(3) {
            "not_supported" => None,
            _ => Some(boolean(3)?),
        };
        if user.is_empty() || !get(1).starts_with("arn:") {
            return Err(ReportError::Value {
                row,
                column: "arn",
                value: get(1).to_string(),
            });
        }
        rows.push(CredentialRow {
            user,
            arn: get(1).to_string(),
            user_creation_time: time(2)?,
            password_enabled,
            password_last_used: time(4)?,
            password_last_changed: time(5)?,
            mfa_active: boolean(6)?,
            access_keys: [
                ReportAccessKey {
                    active: boolean(7)?,
                    last_rotated: time(8)?,
                    last_used: time(9)?,
                },
                ReportAccessKey {
                    active: boolean(10)?,
                    last_rotated: time(11)?,
                    last_used: time(12)?,
                },
            ],
        });
    }
    Ok(CredentialReport { generated_at, rows })
}

fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "true" | "TRUE" => Some(true),
        "false" | "FALSE" => Some(false),
        _ => None,
    }
}

fn parse_time(v: &str) -> Option<ReportTime> {
    match v {
        "N/A" => Some(ReportTime::NotApplicable),
        "no_information" => Some(ReportTime::NoInformation),
        "not_supported" => Some(ReportTime::NotSupported),
        _ => DateTime::parse_from_rfc3339(v)
            .ok()
            .map(|t| ReportTime::At(t.with_timezone(&Utc))),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const HEADER: &str = "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated";

    fn gen() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap()
    }

    #[test]
    fn parses_documented_special_values_and_root_row() {
        let csv = format!("{HEADER}\n\
<root_account>,arn:aws:iam::111122223333:root,2020-01-01T00:00:00+00:00,not_supported,2025-12-01T10:00:00+00:00,not_supported,not_supported,true,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n\
alice,arn:aws:iam::111122223333:user/alice,2021-05-01T00:00:00+00:00,true,no_information,2021-05-01T00:00:00+00:00,N/A,false,true,2021-05-02T00:00:00+00:00,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n");
        let r = parse(csv.as_bytes(), gen()).unwrap();
        assert_eq!(r.generated_at, gen());
        assert_eq!(r.rows.len(), 2);
        assert!(r.rows[0].is_root());
        assert_eq!(r.rows[0].password_enabled, None);
        assert_eq!(r.rows[0].password_last_changed, ReportTime::NotSupported);
        assert!(r.rows[0].mfa_active);
        let a = &r.rows[1];
        assert_eq!(a.password_enabled, Some(true));
        assert_eq!(a.password_last_used, ReportTime::NoInformation);
        assert!(!a.mfa_active);
        assert!(a.access_keys[0].active);
        assert_eq!(a.access_keys[0].last_used, ReportTime::NotApplicable);
        assert_eq!(
            a.access_keys[0].last_rotated,
            ReportTime::At(Utc.with_ymd_and_hms(2021, 5, 2, 0, 0, 0).unwrap())
        );
    }

    #[test]
    fn malformed_reports_are_errors() {
        assert_eq!(parse(b"", gen()), Err(ReportError::Empty));
        assert_eq!(
            parse(b"user,arn\n", gen()),
            Err(ReportError::MissingColumn("user_creation_time"))
        );
        let short = format!("{HEADER}\nalice,arn:aws:iam::1:user/alice\n");
        assert!(matches!(
            parse(short.as_bytes(), gen()),
            Err(ReportError::Width { row: 1, .. })
        ));
        let bad = format!("{HEADER}\nalice,arn:aws:iam::1:user/alice,yesterday,true,N/A,N/A,N/A,false,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n");
        assert!(matches!(
            parse(bad.as_bytes(), gen()),
            Err(ReportError::Value {
                column: "user_creation_time",
                ..
            })
        ));
        assert_eq!(parse(&[0xff, 0xfe], gen()), Err(ReportError::NotUtf8));
    }
}
