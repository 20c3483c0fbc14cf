//! Text and json reports of evaluation results.
//!
//! Guarantees: tables are plain aligned text (one header line, one line per row, numbers
//! with 4 decimals, -1 shown as `-`), and [`StatsJson`] serializes the 12 COCO numbers
//! under the keys `AP AP50 AP75 APs APm APl AR1 AR10 AR100 ARs ARm ARl`.

use super::cocoeval::{CategoryAp, STAT_NAMES};
use serde::{Deserialize, Serialize};

fn cell(v: f64) -> String {
    if v < 0.0 {
        "-".to_string()
    } else {
        format!("{v:.4}")
    }
}

/// Lay out `header` + `rows` with the first column left-aligned, the rest right-aligned.
fn table(header: &[String], rows: &[Vec<String>]) -> String {
    let mut width: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let parts: Vec<String> = cells
            .iter()
            .zip(&width)
            .enumerate()
            .map(|(i, (c, &w))| {
                if i == 0 {
                    format!("{c:<w$}")
                } else {
                    format!("{c:>w$}")
                }
            })
            .collect();
        parts.join("  ").trim_end().to_string()
    };
    let mut out = line(header);
    out.push('\n');
    for r in rows {
        out.push_str(&line(r));
        out.push('\n');
    }
    out
}

/// One row per named result with the 12 COCO summary numbers.
pub fn format_stats_table(rows: &[(String, [f64; 12])]) -> String {
    let mut header = vec!["name".to_string()];
    header.extend(STAT_NAMES.iter().map(|s| s.to_string()));
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|(name, s)| {
            std::iter::once(name.clone())
                .chain(s.iter().map(|&v| cell(v)))
                .collect()
        })
        .collect();
    table(&header, &body)
}

/// Per-class AP@[.5:.95] and AP50 (classes without ground truth shown as `-`).
pub fn format_class_table(per_class: &[CategoryAp]) -> String {
    let header: Vec<String> = ["class", "id", "n_gt", "AP", "AP50"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let body: Vec<Vec<String>> = per_class
        .iter()
        .map(|c| {
            vec![
                c.name.clone(),
                c.id.to_string(),
                c.n_gt.to_string(),
                cell(c.ap),
                cell(c.ap50),
            ]
        })
        .collect();
    table(&header, &body)
}

/// The 12 COCO numbers under their usual names, for `--json` output.
#[allow(non_snake_case)]
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StatsJson {
    pub AP: f64,
    pub AP50: f64,
    pub AP75: f64,
    pub APs: f64,
    pub APm: f64,
    pub APl: f64,
    pub AR1: f64,
    pub AR10: f64,
    pub AR100: f64,
    pub ARs: f64,
    pub ARm: f64,
    pub ARl: f64,
}

impl From<[f64; 12]> for StatsJson {
    fn from(s: [f64; 12]) -> Self {
        StatsJson {
            AP: s[0],
            AP50: s[1],
            AP75: s[2],
            APs: s[3],
            APm: s[4],
            APl: s[5],
            AR1: s[6],
            AR10: s[7],
            AR100: s[8],
            ARs: s[9],
            ARm: s[10],
            ARl: s[11],
        }
    }
}

impl From<StatsJson> for [f64; 12] {
    fn from(j: StatsJson) -> Self {
        [
            j.AP, j.AP50, j.AP75, j.APs, j.APm, j.APl, j.AR1, j.AR10, j.AR100, j.ARs, j.ARm, j.ARl,
        ]
    }
}
