//! The 93 controls of ISO/IEC 27001:2022 Annex A, embedded as data.
//!
//! Source: `data/iso27001-2022-annex-a.csv` (id, theme, short title).

use std::sync::OnceLock;

/// The CSV embedded at build time.
const CSV: &str = include_str!("../data/iso27001-2022-annex-a.csv");

/// Theme of an Annex A control (clause 5, 6, 7 or 8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Theme {
    /// A.5, organizational controls.
    Organizational,
    /// A.6, people controls.
    People,
    /// A.7, physical controls.
    Physical,
    /// A.8, technological controls.
    Technological,
}

impl Theme {
    /// The name as written in the catalog.
    pub fn as_str(self) -> &'static str {
        match self {
            Theme::Organizational => "organizational",
            Theme::People => "people",
            Theme::Physical => "physical",
            Theme::Technological => "technological",
        }
    }
}

/// One Annex A control.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Control {
    /// Id as printed in output, e.g. `A.8.5`.
    pub id: String,
    /// Clause number and index, for ordering: (8, 5) for A.8.5.
    pub number: (u8, u8),
    /// Theme.
    pub theme: Theme,
    /// Short title.
    pub title: String,
}

/// All 93 controls in Annex A order.
pub fn controls() -> &'static [Control] {
    static CATALOG: OnceLock<Vec<Control>> = OnceLock::new();
    CATALOG.get_or_init(|| parse(CSV))
}

/// Look a control up by its id (`A.8.5`; `8.5` is accepted too).
pub fn control(id: &str) -> Option<&'static Control> {
    let canonical = normalise_id(id)?;
    controls().iter().find(|c| c.id == canonical)
}

/// Normalise `8.5` or `A.8.5` to `A.8.5`; `None` when not of that shape.
pub fn normalise_id(id: &str) -> Option<String> {
    let bare = id.strip_prefix("A.").unwrap_or(id);
    let (clause, index) = bare.split_once('.')?;
    let clause: u8 = clause.parse().ok()?;
    let index: u8 = index.parse().ok()?;
    Some(format!("A.{clause}.{index}"))
}

fn parse(csv: &str) -> Vec<Control> {
    let mut out = Vec::with_capacity(93);
    for (n, line) in csv.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        // Invariant: the embedded CSV is fixed at build time and a unit test
        // parses it; a malformed line is a build defect, not user input.
        let mut cols = line.splitn(3, ',');
        let (Some(id), Some(theme), Some(title)) = (cols.next(), cols.next(), cols.next()) else {
            panic!("embedded Annex A catalog line {} is malformed", n + 1);
        };
        let theme = match theme {
            "organizational" => Theme::Organizational,
            "people" => Theme::People,
            "physical" => Theme::Physical,
            "technological" => Theme::Technological,
            other => panic!("embedded Annex A catalog: unknown theme {other:?}"),
        };
        let Some((clause, index)) = id
            .split_once('.')
            .and_then(|(c, i)| Some((c.parse().ok()?, i.parse().ok()?)))
        else {
            panic!("embedded Annex A catalog: bad id {id:?}");
        };
        out.push(Control {
            id: format!("A.{id}"),
            number: (clause, index),
            theme,
            title: title.trim_matches('"').to_string(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_has_93_controls_in_four_themes() {
        let all = controls();
        let count = |t| all.iter().filter(|c| c.theme == t).count();
        assert_eq!(count(Theme::Organizational), 37);
        assert_eq!(count(Theme::People), 8);
        assert_eq!(count(Theme::Physical), 14);
        assert_eq!(count(Theme::Technological), 34);
        assert_eq!(all.len(), 93);
        assert_eq!(all.len(), 37 + 8 + 14 + 34);
    }

    #[test]
    fn ids_are_unique_contiguous_and_themed_by_clause() {
        let all = controls();
        for (clause, theme, n) in [
            (5u8, Theme::Organizational, 37u8),
            (6, Theme::People, 8),
            (7, Theme::Physical, 14),
            (8, Theme::Technological, 34),
        ] {
            let got: Vec<u8> = all
                .iter()
                .filter(|c| c.number.0 == clause)
                .map(|c| {
                    assert_eq!(c.theme, theme, "{}", c.id);
                    c.number.1
                })
                .collect();
            assert_eq!(got, (1..=n).collect::<Vec<_>>(), "clause {clause}");
        }
    }

    #[test]
    fn lookup_accepts_both_spellings_and_rejects_unknown() {
        assert_eq!(
            control("A.8.5").map(|c| c.title.as_str()),
            Some("Secure authentication")
        );
        assert_eq!(control("8.5").map(|c| c.id.as_str()), Some("A.8.5"));
        assert!(control("A.8.35").is_none());
        assert!(control("A.9.1").is_none());
        assert!(control("banana").is_none());
    }
}
