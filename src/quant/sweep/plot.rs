//! PNG plot of a sweep: AP against weight bits, one line per family (scale, granularity,
//! head), and the float baseline as a horizontal line.
//!
//! Guarantees: a 900×560 PNG written atomically; identical rows give identical bytes. Text
//! uses the font found by [`crate::eval::plot::font_available`]; without a font the lines
//! are drawn without text.

use super::SweepRow;
use crate::error::{Error, Result};
use plotters::prelude::*;
use std::path::Path;

const SIZE: (u32, u32) = (900, 560);

/// Line colours, one per family (cycled).
const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// Draw AP vs weight bits for the quantized rows, with `float_ap` as a horizontal line.
pub fn plot_ap_vs_bits(path: &Path, rows: &[SweepRow], float_ap: f64) -> Result<()> {
    let text = crate::eval::plot::font_available();
    let err = |e: &dyn std::fmt::Display| Error::data(path, format!("cannot draw plot: {e}"));
    let mut buf = vec![255u8; SIZE.0 as usize * SIZE.1 as usize * 3];
    draw(&mut buf, rows, float_ap, text).map_err(|e| err(&e))?;
    let img = image::RgbImage::from_raw(SIZE.0, SIZE.1, buf).ok_or_else(|| err(&"buffer"))?;
    let mut png = std::io::Cursor::new(Vec::new());
    img.write_to(&mut png, image::ImageFormat::Png)
        .map_err(|e| err(&e))?;
    crate::util::write_atomic(path, &png.into_inner())
}

/// Families in first-appearance order, each with its (wbits, AP) points sorted by bits.
fn families(rows: &[SweepRow]) -> Vec<(String, Vec<(f64, f64)>)> {
    let mut out: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    for r in rows {
        let Some(w) = r.wbits else { continue };
        let key = r.family();
        let pt = (r.avg_wbits.unwrap_or(w as f64), r.ap);
        match out.iter_mut().find(|(k, _)| *k == key) {
            Some((_, pts)) => pts.push(pt),
            None => out.push((key, vec![pt])),
        }
    }
    for (_, pts) in &mut out {
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    out
}

fn draw(
    buf: &mut [u8],
    rows: &[SweepRow],
    float_ap: f64,
    text: bool,
) -> std::result::Result<(), String> {
    let s = |e: &dyn std::fmt::Display| e.to_string();
    let root = BitMapBackend::with_buffer(buf, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| s(&e))?;
    let fams = families(rows);
    let bits: Vec<f64> = fams.iter().flat_map(|f| f.1.iter().map(|p| p.0)).collect();
    let (lo, hi) = bits
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| {
            (a.min(x), b.max(x))
        });
    let (lo, hi) = if lo.is_finite() {
        (lo - 0.5, hi + 0.5)
    } else {
        (1.5, 8.5)
    };
    let top = rows.iter().map(|r| r.ap).fold(float_ap, f64::max);
    let top = ((top * 1.15) * 20.0).ceil() / 20.0;
    let mut b = ChartBuilder::on(&root);
    b.margin(15);
    if text {
        b.caption(
            "AP@[.5:.95] vs weight bits (8-bit activations)",
            ("sans-serif", 22),
        )
        .x_label_area_size(45)
        .y_label_area_size(55);
    }
    let mut chart = b
        .build_cartesian_2d(lo..hi, 0f64..top.clamp(0.05, 1.0))
        .map_err(|e| s(&e))?;
    let mut mesh = chart.configure_mesh();
    mesh.light_line_style(WHITE)
        .x_labels(((hi - lo) as usize).max(2) + 1)
        .x_label_formatter(&|v| format!("{v:.0}"));
    if text {
        mesh.x_desc("weight bits").y_desc("AP");
    } else {
        mesh.x_labels(0).y_labels(0);
    }
    mesh.draw().map_err(|e| s(&e))?;
    let base = BLACK.stroke_width(2);
    let line = chart
        .draw_series(LineSeries::new([(lo, float_ap), (hi, float_ap)], base))
        .map_err(|e| s(&e))?;
    if text {
        line.label(format!("float (fused), AP {float_ap:.4}"))
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], base));
    }
    for (i, (name, pts)) in fams.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let style = color.stroke_width(2);
        let drawn = chart
            .draw_series(LineSeries::new(pts.clone(), style))
            .map_err(|e| s(&e))?;
        if text {
            drawn
                .label(name.clone())
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], style));
        }
        chart
            .draw_series(pts.iter().map(|&p| Circle::new(p, 4, color.filled())))
            .map_err(|e| s(&e))?;
    }
    if text {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 14))
            .draw()
            .map_err(|e| s(&e))?;
    }
    root.present().map_err(|e| s(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(w: u32, scale: &str, ap: f64) -> SweepRow {
        SweepRow {
            name: format!("W{w}"),
            wbits: Some(w),
            abits: Some(8),
            scale: scale.into(),
            granularity: "channel".into(),
            head: "int".into(),
            qnms: true,
            bias_correct: false,
            keep8: vec![],
            gptq: false,
            refine: false,
            avg_wbits: None,
            budget: None,
            ap,
            ap50: ap,
            delta_ap: 0.0,
        }
    }

    #[test]
    fn families_group_by_everything_but_bits() {
        let rows = [
            row(8, "pow2", 0.4),
            row(4, "pow2", 0.1),
            row(6, "mult", 0.3),
            row(6, "pow2", 0.3),
        ];
        let f = families(&rows);
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].1, vec![(4.0, 0.1), (6.0, 0.3), (8.0, 0.4)]);
        assert_eq!(f[1].1, vec![(6.0, 0.3)]);
    }

    #[test]
    fn plot_is_written_and_deterministic() {
        let tmp = tempfile::tempdir().unwrap();
        let rows = [row(8, "pow2", 0.4), row(4, "pow2", 0.1)];
        let (a, b) = (tmp.path().join("a.png"), tmp.path().join("b.png"));
        plot_ap_vs_bits(&a, &rows, 0.42).unwrap();
        plot_ap_vs_bits(&b, &rows, 0.42).unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
        let img = image::open(&a).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), SIZE);
        // The float baseline is a black horizontal line.
        assert!(img.pixels().filter(|p| p.0 == [0, 0, 0]).count() > 500);
    }
}
