//! Accuracy sweep over quantization variants: one calibration, many configurations.
//!
//! Calibration statistics do not depend on bit widths, scale mode, granularity or head mode,
//! so a sweep calibrates once and builds every [`QuantGraph`](super::QuantGraph) in memory
//! from the same statistics. Guarantees: the variant list holds no two identical
//! configurations; rows come out in variant order; the table, JSON and plot are pure
//! functions of the rows (byte-identical files for identical results).

mod plot;
mod variants;

pub use plot::plot_ap_vs_bits;
pub use variants::*;
use variants::{gran_str, scale_str};

use super::calibrate::CalibStats;
use super::gptq::CalibImages;
use super::{quantize, HeadMode, Rounding};
use crate::error::Result;
use crate::eval::{cocoeval, dataset::Dataset};
use crate::fuse::FusedGraph;
use crate::validate::{run_stage, Stage, ValParams};
use serde::Serialize;
use std::fmt::Write as _;

/// One line of the results table (`wbits`/`abits` are `None` for the float baseline).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SweepRow {
    pub name: String,
    pub wbits: Option<u32>,
    pub abits: Option<u32>,
    pub scale: String,
    pub granularity: String,
    pub head: String,
    pub qnms: bool,
    /// Bias correction on.
    pub bias_correct: bool,
    /// Layers kept at 8-bit weights.
    pub keep8: Vec<String>,
    /// GPTQ rounding of the weights (else nearest).
    #[serde(default)]
    pub gptq: bool,
    /// GPTQ refined (`--rounding gptq-refine`).
    #[serde(default)]
    pub refine: bool,
    /// Average bits per weight over the integer convolutions (differs from `wbits` with
    /// `--keep8` or a budget).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avg_wbits: Option<f64>,
    /// The weight budget the widths were chosen for (`--wbits 4.5`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<String>,
    pub ap: f64,
    pub ap50: f64,
    /// AP minus the float baseline's AP.
    pub delta_ap: f64,
}

impl SweepRow {
    /// The float (fused) baseline row.
    pub fn float(stats: &[f64; 12]) -> Self {
        SweepRow {
            name: "float (fused)".into(),
            wbits: None,
            abits: None,
            scale: "-".into(),
            granularity: "-".into(),
            head: "float".into(),
            qnms: false,
            bias_correct: false,
            keep8: vec![],
            gptq: false,
            refine: false,
            avg_wbits: None,
            budget: None,
            ap: stats[0],
            ap50: stats[1],
            delta_ap: 0.0,
        }
    }
    /// The row of a quantized variant, against the float AP; `avg_wbits` as built.
    pub fn quant(v: &Variant, stats: &[f64; 12], float_ap: f64, avg_wbits: f64) -> Self {
        let c = &v.config;
        SweepRow {
            name: v.name.clone(),
            wbits: Some(c.wbits),
            abits: Some(c.abits),
            scale: scale_str(c.scale).into(),
            granularity: gran_str(c.granularity).into(),
            head: match c.head {
                HeadMode::Float => "float".into(),
                HeadMode::Int => "int".into(),
            },
            qnms: c.qnms,
            bias_correct: c.bias_correct,
            keep8: c.keep8.clone(),
            gptq: c.rounding.learned(),
            refine: c.rounding == Rounding::GptqRefine,
            avg_wbits: Some(avg_wbits),
            budget: c.wbudget.map(|b| b.to_string()),
            ap: stats[0],
            ap50: stats[1],
            delta_ap: stats[0] - float_ap,
        }
    }
    /// Series key for the plot: everything except the weight width.
    pub fn family(&self) -> String {
        let head = match (self.head.as_str(), self.qnms) {
            ("float", _) => "float head",
            (_, true) => "int head + qnms",
            _ => "int head",
        };
        let bc = if self.bias_correct {
            ", bias corr."
        } else {
            ""
        };
        let keep = if self.keep8.is_empty() {
            String::new()
        } else {
            format!(", {} at W8", self.keep8.join("+"))
        };
        let gptq = match (self.gptq, self.refine) {
            (_, true) => ", gptq-refine",
            (true, false) => ", gptq",
            _ => "",
        };
        let budget = if self.budget.is_some() {
            ", mixed (budget)"
        } else {
            ""
        };
        // Rows with activations below 8 bits are points of their own family (A6, A4).
        let acts = match self.abits {
            Some(a) if a != 8 => format!(", A{a}"),
            _ => String::new(),
        };
        format!(
            "{}/{}, {head}{bc}{keep}{gptq}{budget}{acts}",
            self.scale, self.granularity
        )
    }
}

/// Validate one stage on `ds`; `label` names its progress bar.
pub fn evaluate_stage(
    stage: &Stage,
    ds: &Dataset,
    p: &ValParams,
    label: &str,
) -> Result<[f64; 12]> {
    let run = run_stage(stage, ds, p, label, true)?;
    Ok(cocoeval::evaluate(&ds.gt, &run.dets).stats)
}

/// Quantize and validate every variant from one set of calibration statistics (and, for
/// GPTQ variants, the calibration images); `done` is called after each variant with its row.
/// Returns the rows in variant order.
#[allow(clippy::too_many_arguments)]
pub fn run_variants(
    fg: &FusedGraph,
    stats: &CalibStats,
    images: Option<CalibImages>,
    ds: &Dataset,
    p: &ValParams,
    variants: &[Variant],
    float_ap: f64,
    mut done: impl FnMut(&SweepRow),
) -> Result<Vec<SweepRow>> {
    let mut rows = Vec::with_capacity(variants.len());
    for v in variants {
        let q = quantize::quantize_with(fg, stats, &v.config, images)?;
        let s = evaluate_stage(&Stage::Quant(&q), ds, p, &v.name)?;
        let row = SweepRow::quant(v, &s, float_ap, average_wbits(&q));
        done(&row);
        rows.push(row);
    }
    Ok(rows)
}

/// Average bits per weight over the integer convolutions of `q`.
pub fn average_wbits(q: &super::QuantGraph) -> f64 {
    let (mut bits, mut n) = (0u64, 0u64);
    for node in &q.nodes {
        if let super::QOp::Conv(c) = &node.op {
            bits += c.weight.len() as u64 * c.wbits as u64;
            n += c.weight.len() as u64;
        }
    }
    bits as f64 / n.max(1) as f64
}

/// Markdown table of the rows (AP to 4 decimals; weight bits as the average where layers
/// differ).
pub fn markdown_table(rows: &[SweepRow]) -> String {
    let mut s = String::from(
        "| variant | W bits | A bits | scale | weight scales | head | qnms | AP | AP50 | ΔAP vs float |\n\
         |---|---:|---:|---|---|---|---|---:|---:|---:|\n",
    );
    let bits = |b: Option<u32>| b.map_or("32 (float)".to_string(), |b| b.to_string());
    for r in rows {
        let wbits = match (r.avg_wbits, r.wbits) {
            (Some(a), Some(w)) if (a - w as f64).abs() > 1e-9 => format!("{a:.2}"),
            _ => bits(r.wbits),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {:.4} | {:.4} | {:+.4} |",
            r.name,
            wbits,
            bits(r.abits),
            r.scale,
            r.granularity,
            r.head,
            if r.qnms { "on" } else { "off" },
            r.ap,
            r.ap50,
            r.delta_ap
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::{CalibMethod, Granularity, ScaleMode};

    #[test]
    fn standard_variants_are_distinct_and_cover_the_issue() {
        let v = standard_variants(CalibMethod::Mse);
        assert_eq!(v.len(), 26);
        for (i, a) in v.iter().enumerate() {
            assert!(v[i + 1..]
                .iter()
                .all(|b| b.config != a.config && b.name != a.name));
            assert!([8, 6, 4].contains(&a.config.abits));
            assert!(!(a.config.qnms && a.config.head == HeadMode::Float));
        }
        let has = |n: &str| v.iter().any(|x| x.name == n);
        for n in [
            "W8A8 pow2/channel int+qnms",
            "W6A8 pow2/channel int+qnms",
            "W4A8 pow2/channel int+qnms",
            "W8A8 mult/channel int+qnms",
            "W6A8 pow2/tensor int+qnms",
            "W8A8 pow2/channel float-head",
            "W8A8 pow2/channel int",
            "W6A8 pow2/channel int+qnms +bc",
            "W6A8 pow2/channel int+qnms +bc keep8=first,head",
            "W4A8 pow2/channel int+qnms +bc keep8=first,head gptq",
            "W6A8 pow2/channel int+qnms +bc gptq",
            "W8A8 pow2/channel int+qnms +bc gptq",
            "W8A6 pow2/channel int+qnms +bc",
            "W6A6 pow2/channel int+qnms +bc",
            "W4A4 pow2/channel int+qnms +bc gptq",
            "W4.5A8 pow2/channel int+qnms +bc gptq",
            "W6A8 pow2/channel int+qnms +bc gptq-refine",
            "W4A8 pow2/channel int+qnms +bc keep8=first,head gptq-refine",
        ] {
            assert!(has(n), "{n} missing");
        }
        let twice = [v.clone(), v.clone()].concat();
        assert_eq!(dedup(twice), v);
    }

    #[test]
    fn table_rows_and_deltas() {
        let mut s = [0.0; 12];
        s[0] = 0.4;
        s[1] = 0.55;
        let f = SweepRow::float(&s);
        s[0] = 0.38;
        let v = variant(
            6,
            ScaleMode::Pow2,
            Granularity::Channel,
            HeadMode::Int,
            true,
            CalibMethod::Mse,
        );
        let r = SweepRow::quant(&v, &s, f.ap, 6.0);
        assert!((r.delta_ap + 0.02).abs() < 1e-12);
        let t = markdown_table(&[f, r]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(
            lines[3],
            "| W6A8 pow2/channel int+qnms | 6 | 8 | pow2 | channel | int | on | 0.3800 | 0.5500 | -0.0200 |"
        );
        assert!(lines[2].starts_with("| float (fused) | 32 (float) |"));
    }
}
