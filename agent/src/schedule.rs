//! Schedules in standard crontab(5) syntax, evaluated with the `cron` crate.
//!
//! crontab(5) and the `cron` crate differ: the crate wants 6–7 fields
//! (seconds first), numbers Sunday as 1, and requires day-of-month AND
//! day-of-week to match, where crontab runs a job when EITHER matches if both
//! are restricted. We parse the crontab expression ourselves, expand every
//! field to explicit values (weekdays as names, so numbering cannot be
//! confused), and when both day fields are restricted build two crate
//! schedules (one per day field) and take the earlier next time.
//! When either day field starts with `*`, both sets must match.

use std::collections::BTreeSet;
use std::str::FromStr;

use chrono::{DateTime, Utc};

/// A parsed crontab(5) schedule, in UTC.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    expr: String,
    parts: Vec<cron::Schedule>,
}

/// Why a schedule expression is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid schedule {expr:?}: {reason}")]
pub struct ScheduleError {
    /// The expression as written.
    pub expr: String,
    /// What is wrong.
    pub reason: String,
}

const DOW_NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
const MONTH_NAMES: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];

struct Field {
    values: BTreeSet<u32>,
    /// crontab(5): a day field is "restricted" unless it starts with `*`.
    star: bool,
}

fn parse_field(
    text: &str,
    name: &str,
    min: u32,
    max: u32,
    names: &[&str],
    names_base: u32,
) -> Result<Field, String> {
    let value = |s: &str| -> Result<u32, String> {
        if let Ok(n) = s.parse::<u32>() {
            return Ok(n);
        }
        names
            .iter()
            .position(|n| n.eq_ignore_ascii_case(s))
            .map(|i| i as u32 + names_base)
            .ok_or_else(|| format!("{name}: {s:?} is not a number or name"))
    };
    let mut values = BTreeSet::new();
    for item in text.split(',') {
        if item.is_empty() {
            return Err(format!("{name}: empty list element in {text:?}"));
        }
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => {
                let step: u32 = s
                    .parse()
                    .map_err(|_| format!("{name}: step {s:?} is not a number"))?;
                if step == 0 {
                    return Err(format!("{name}: step must be at least 1"));
                }
                (r, step)
            }
            None => (item, 1),
        };
        let (lo, hi) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a)?, value(b)?)
        } else {
            let v = value(range)?;
            // `N/step` means N through the maximum, as in Vixie cron.
            if step > 1 {
                (v, max)
            } else {
                (v, v)
            }
        };
        for v in [lo, hi] {
            if v < min || v > max {
                return Err(format!("{name}: {v} is outside {min}-{max}"));
            }
        }
        if lo > hi {
            return Err(format!("{name}: range {lo}-{hi} is backwards"));
        }
        values.extend((lo..=hi).step_by(step as usize));
    }
    Ok(Field {
        values,
        star: text.starts_with('*'),
    })
}

fn join(values: impl Iterator<Item = String>) -> String {
    values.collect::<Vec<_>>().join(",")
}

impl CronSchedule {
    /// Parse a crontab(5) expression: 5 fields, or `@hourly`, `@daily`
    /// (`@midnight`), `@weekly`, `@monthly`, `@yearly` (`@annually`).
    pub fn parse(expr: &str) -> Result<CronSchedule, ScheduleError> {
        let err = |reason: String| ScheduleError {
            expr: expr.to_string(),
            reason,
        };
        let trimmed = expr.trim();
        let expanded = match trimmed {
            "@hourly" => "0 * * * *",
            "@daily" | "@midnight" => "0 0 * * *",
            "@weekly" => "0 0 * * 0",
            "@monthly" => "0 0 1 * *",
            "@yearly" | "@annually" => "0 0 1 1 *",
            s if s.starts_with('@') => {
                return Err(err(
                    "unknown shorthand; use @hourly, @daily, @weekly, @monthly or @yearly".into(),
                ))
            }
            s => s,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(err(format!(
                "expected 5 fields (minute hour day-of-month month day-of-week), found {}",
                fields.len()
            )));
        }
        let minute = parse_field(fields[0], "minute", 0, 59, &[], 0).map_err(err)?;
        let hour = parse_field(fields[1], "hour", 0, 23, &[], 0).map_err(err)?;
        let dom = parse_field(fields[2], "day of month", 1, 31, &[], 0).map_err(err)?;
        let month = parse_field(fields[3], "month", 1, 12, &MONTH_NAMES, 1).map_err(err)?;
        let mut dow = parse_field(fields[4], "day of week", 0, 7, &DOW_NAMES, 0).map_err(err)?;
        if dow.values.remove(&7) {
            dow.values.insert(0);
        }
        let nums = |f: &Field| join(f.values.iter().map(u32::to_string));
        let days = join(
            dow.values
                .iter()
                .map(|d| DOW_NAMES[*d as usize].to_string()),
        );
        let base = format!("0 {} {} ", nums(&minute), nums(&hour));
        let month_s = nums(&month);
        let exprs = if !dom.star && !dow.star {
            // crontab: either day field matching is enough.
            vec![
                format!("{base}{} {month_s} *", nums(&dom)),
                format!("{base}* {month_s} {days}"),
            ]
        } else {
            // At least one day field starts with `*`: both sets must match
            // (a stepped star such as `*/2` still restricts its own field),
            // exactly as Vixie cron does.
            vec![format!("{base}{} {month_s} {days}", nums(&dom))]
        };
        let parts = exprs
            .iter()
            .map(|e| cron::Schedule::from_str(e).map_err(|e| err(e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(CronSchedule {
            expr: trimmed.to_string(),
            parts,
        })
    }

    /// The expression as written.
    pub fn expr(&self) -> &str {
        &self.expr
    }

    /// The first time strictly after `t`, or `None` if there is none (e.g. 31 February).
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.parts.iter().filter_map(|s| s.after(&t).next()).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, TimeZone, Weekday};

    fn t(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0)
            .single()
            .expect("valid time")
    }

    fn runs(expr: &str, from: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
        let s = CronSchedule::parse(expr).expect("valid");
        let mut out = Vec::new();
        let mut cur = from;
        while out.len() < n {
            cur = s.next_after(cur).expect("next");
            out.push(cur);
        }
        out
    }

    #[test]
    fn weekdays_at_nine_run_monday_to_friday() {
        // 2026-12-05 is a Saturday.
        let got = runs("0 9 * * 1-5", t(2026, 12, 5, 0, 0), 6);
        let days: Vec<Weekday> = got.iter().map(|d| d.weekday()).collect();
        assert_eq!(
            days,
            [
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri,
                Weekday::Mon
            ]
        );
        assert!(got.iter().all(|d| d.format("%H:%M").to_string() == "09:00"));
    }

    #[test]
    fn both_day_fields_restricted_means_either() {
        // The 1st of the month OR any Monday. December 2026: Mon 7, 14, 21, 28; Jan 1 2027 is a Friday.
        let got = runs("0 0 1 * 1", t(2026, 12, 2, 0, 0), 6);
        assert_eq!(
            got,
            vec![
                t(2026, 12, 7, 0, 0),
                t(2026, 12, 14, 0, 0),
                t(2026, 12, 21, 0, 0),
                t(2026, 12, 28, 0, 0),
                t(2027, 1, 1, 0, 0),
                t(2027, 1, 4, 0, 0),
            ]
        );
    }

    #[test]
    fn sunday_is_0_and_7_and_names_work() {
        for e in ["0 12 * * 0", "0 12 * * 7", "0 12 * * sun", "@weekly"] {
            let got = runs(e, t(2026, 12, 3, 0, 0), 2);
            assert!(
                got.iter().all(|d| d.weekday() == Weekday::Sun),
                "{e}: {got:?}"
            );
        }
        let got = runs("30 6 * jan,feb fri-sat", t(2026, 12, 3, 0, 0), 1);
        assert_eq!(got, vec![t(2027, 1, 1, 6, 30)]);
    }

    #[test]
    fn shorthands_and_steps() {
        assert_eq!(
            runs("@hourly", t(2026, 12, 3, 10, 5), 2),
            vec![t(2026, 12, 3, 11, 0), t(2026, 12, 3, 12, 0)]
        );
        assert_eq!(
            runs("@daily", t(2026, 12, 3, 10, 5), 1),
            vec![t(2026, 12, 4, 0, 0)]
        );
        assert_eq!(
            runs("*/20 * * * *", t(2026, 12, 3, 10, 5), 3),
            vec![
                t(2026, 12, 3, 10, 20),
                t(2026, 12, 3, 10, 40),
                t(2026, 12, 3, 11, 0)
            ]
        );
        assert_eq!(
            runs("5/30 * * * *", t(2026, 12, 3, 10, 6), 2),
            vec![t(2026, 12, 3, 10, 35), t(2026, 12, 3, 11, 5)]
        );
    }

    #[test]
    fn invalid_expressions_are_rejected_with_a_reason() {
        for (e, why) in [
            ("* * * *", "expected 5 fields"),
            ("0 0 * * * *", "expected 5 fields"),
            ("60 * * * *", "outside 0-59"),
            ("0 24 * * *", "outside 0-23"),
            ("0 0 0 * *", "outside 1-31"),
            ("0 0 * 13 *", "outside 1-12"),
            ("0 0 * * 8", "outside 0-7"),
            ("0 0 * * funday", "not a number or name"),
            ("*/0 * * * *", "step must be at least 1"),
            ("5-1 * * * *", "backwards"),
            ("@fortnightly", "unknown shorthand"),
            ("1,,2 * * * *", "empty list element"),
        ] {
            let err = CronSchedule::parse(e).expect_err(e);
            assert!(err.to_string().contains(why), "{e}: {err}");
        }
    }

    #[test]
    fn impossible_dates_have_no_next_run() {
        let s = CronSchedule::parse("0 0 31 2 *").expect("syntactically valid");
        assert_eq!(s.next_after(t(2026, 1, 1, 0, 0)), None);
    }
}
