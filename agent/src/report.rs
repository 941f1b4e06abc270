//! Rendering of tabular reports: aligned text, CSV and JSON.

use std::io::Write;

/// A simple table: a header and rows of cells.
#[derive(Debug, Default)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column names.
    pub fn new(header: &[&str]) -> Table {
        Table {
            header: header.iter().map(|s| s.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Append a row (missing cells are empty).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Aligned text, columns wider than `max_width` characters are cut with `…`.
    pub fn write_text(&self, out: &mut impl Write, max_width: usize) -> std::io::Result<()> {
        let n = self.header.len();
        let cut = |s: &str| -> String {
            // One line, and no control character reaches the terminal (a
            // file name with an escape sequence could clear or fake output).
            let one_line: String = s
                .chars()
                .map(|c| match c {
                    '\n' | '\r' | '\t' => ' ',
                    c if c.is_control() => '\u{FFFD}',
                    c => c,
                })
                .collect();
            if one_line.chars().count() > max_width {
                let mut t: String = one_line.chars().take(max_width.saturating_sub(1)).collect();
                t.push('…');
                t
            } else {
                one_line
            }
        };
        let cells: Vec<Vec<String>> = std::iter::once(&self.header)
            .chain(self.rows.iter())
            .map(|r| {
                (0..n)
                    .map(|i| cut(r.get(i).map_or("", String::as_str)))
                    .collect()
            })
            .collect();
        let widths: Vec<usize> = (0..n)
            .map(|i| {
                cells
                    .iter()
                    .map(|r| r[i].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        for (ri, r) in cells.iter().enumerate() {
            let mut line = String::new();
            for (i, c) in r.iter().enumerate() {
                if i + 1 == n {
                    line.push_str(c);
                } else {
                    line.push_str(&format!("{c:<w$}  ", w = widths[i]));
                }
            }
            writeln!(out, "{}", line.trim_end())?;
            if ri == 0 {
                let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
                writeln!(out, "{}", rule.join("  "))?;
            }
        }
        Ok(())
    }

    /// A GitHub-flavoured Markdown table (pipes escaped, newlines as `<br>`).
    pub fn write_markdown(&self, out: &mut impl Write) -> std::io::Result<()> {
        let cell = |s: &str| {
            s.replace('|', "\\|")
                .replace("\r\n", "<br>")
                .replace('\n', "<br>")
                .replace(|c: char| c.is_control(), "\u{FFFD}")
        };
        let n = self.header.len();
        let line = |cells: &Vec<String>| {
            let v: Vec<String> = (0..n)
                .map(|i| cell(cells.get(i).map_or("", String::as_str)))
                .collect();
            format!("| {} |", v.join(" | "))
        };
        writeln!(out, "{}", line(&self.header))?;
        writeln!(out, "|{}", "---|".repeat(n))?;
        for r in &self.rows {
            writeln!(out, "{}", line(r))?;
        }
        Ok(())
    }

    /// CSV per RFC 4180 (CRLF line ends, quotes where needed).
    pub fn write_csv(&self, out: &mut impl Write) -> std::io::Result<()> {
        for r in std::iter::once(&self.header).chain(self.rows.iter()) {
            let line: Vec<String> = r.iter().map(|c| csv_field(c)).collect();
            write!(out, "{}\r\n", line.join(","))?;
        }
        Ok(())
    }
}

/// Quote a CSV field when it holds a comma, quote, CR or LF. A leading `=`,
/// `+`, `-` or `@` is prefixed with `'` so spreadsheets do not run it as a formula.
pub fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_and_defuses_formulas() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=1+1"), "'=1+1");
    }

    #[test]
    fn markdown_escapes_pipes_and_newlines() {
        let mut t = Table::new(&["a", "b"]);
        t.row(vec!["x|y".into(), "1\n2".into()]);
        let mut out = Vec::new();
        t.write_markdown(&mut out).expect("write");
        assert_eq!(
            String::from_utf8(out).expect("utf8"),
            "| a | b |\n|---|---|\n| x\\|y | 1<br>2 |\n"
        );
    }

    #[test]
    fn control_characters_never_reach_the_terminal() {
        let mut t = Table::new(&["path"]);
        t.row(vec!["evil\u{1b}[2J\u{1b}[31mname\u{7}".into()]);
        for markdown in [false, true] {
            let mut out = Vec::new();
            if markdown {
                t.write_markdown(&mut out).expect("write");
            } else {
                t.write_text(&mut out, 80).expect("write");
            }
            let text = String::from_utf8(out).expect("utf8");
            assert!(
                !text.contains('\u{1b}') && !text.contains('\u{7}'),
                "{text:?}"
            );
            assert!(
                text.contains("evil\u{FFFD}[2J\u{FFFD}[31mname\u{FFFD}"),
                "{text:?}"
            );
        }
    }

    #[test]
    fn text_table_aligns_and_cuts() {
        let mut t = Table::new(&["a", "bb"]);
        t.row(vec!["long value".into(), "x".into()]);
        let mut out = Vec::new();
        t.write_text(&mut out, 6).expect("write");
        let s = String::from_utf8(out).expect("utf8");
        assert_eq!(s, "a       bb\n------  --\nlong …  x\n");
    }
}
