//! PNG of a sensitivity measurement: log10 of the output error per layer (graph order) at
//! 2, 4, 6 and 8 bits, and the error at each layer's chosen width as black dots.
//!
//! Guarantees: a 1000×520 PNG written atomically; identical inputs give identical bytes;
//! without a font (see [`crate::eval::plot::font_available`]) the lines are drawn without text.

use super::{Sensitivity, WIDTHS};
use crate::error::{Error, Result};
use plotters::prelude::*;
use std::path::Path;

const SIZE: (u32, u32) = (1000, 520);
const SHOWN: [(u32, RGBColor); 4] = [
    (2, RGBColor(214, 39, 40)),
    (4, RGBColor(255, 127, 14)),
    (6, RGBColor(44, 160, 44)),
    (8, RGBColor(31, 119, 180)),
];

/// Draw the sensitivity of every layer with the `chosen` widths.
pub fn plot(path: &Path, sens: &Sensitivity, chosen: &[u32]) -> Result<()> {
    let text = crate::eval::plot::font_available();
    let err = |e: &dyn std::fmt::Display| Error::data(path, format!("cannot draw plot: {e}"));
    let mut buf = vec![255u8; SIZE.0 as usize * SIZE.1 as usize * 3];
    draw(&mut buf, sens, chosen, text).map_err(|e| err(&e))?;
    let img = image::RgbImage::from_raw(SIZE.0, SIZE.1, buf).ok_or_else(|| err(&"buffer"))?;
    let mut png = std::io::Cursor::new(Vec::new());
    img.write_to(&mut png, image::ImageFormat::Png)
        .map_err(|e| err(&e))?;
    crate::util::write_atomic(path, &png.into_inner())
}

fn log_err(e: f64) -> f64 {
    e.max(1e-12).log10()
}

fn draw(
    buf: &mut [u8],
    sens: &Sensitivity,
    chosen: &[u32],
    text: bool,
) -> std::result::Result<(), String> {
    let s = |e: &dyn std::fmt::Display| e.to_string();
    let root = BitMapBackend::with_buffer(buf, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(|e| s(&e))?;
    let all: Vec<f64> = sens
        .layers
        .iter()
        .flat_map(|l| l.err.iter().map(|&e| log_err(e)))
        .collect();
    let lo = all.iter().cloned().fold(f64::INFINITY, f64::min);
    let hi = all.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let (lo, hi) = if lo.is_finite() {
        (lo.floor(), hi.ceil().max(lo.floor() + 1.0))
    } else {
        (-6.0, 0.0)
    };
    let n = sens.layers.len().max(1) as f64;
    let mut b = ChartBuilder::on(&root);
    b.margin(15);
    if text {
        b.caption(
            "Per-layer sensitivity: log10 output error, one layer quantized at a time",
            ("sans-serif", 20),
        )
        .x_label_area_size(40)
        .y_label_area_size(50);
    }
    let mut chart = b
        .build_cartesian_2d(-0.5..n - 0.5, lo..hi)
        .map_err(|e| s(&e))?;
    let mut mesh = chart.configure_mesh();
    mesh.light_line_style(WHITE);
    if text {
        mesh.x_desc("convolution (graph order)").y_desc("log10 E");
    } else {
        mesh.x_labels(0).y_labels(0);
    }
    mesh.draw().map_err(|e| s(&e))?;
    for (bits, color) in SHOWN {
        let Some(k) = WIDTHS.iter().position(|&b| b == bits) else {
            continue;
        };
        let pts: Vec<(f64, f64)> = sens
            .layers
            .iter()
            .enumerate()
            .map(|(i, l)| (i as f64, log_err(l.err[k])))
            .collect();
        let style = color.stroke_width(2);
        let drawn = chart
            .draw_series(LineSeries::new(pts, style))
            .map_err(|e| s(&e))?;
        if text {
            drawn
                .label(format!("W{bits}"))
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], style));
        }
    }
    let picks: Vec<(f64, f64)> = sens
        .layers
        .iter()
        .zip(chosen)
        .enumerate()
        .filter_map(|(i, (l, b))| {
            let k = WIDTHS.iter().position(|w| w == b)?;
            Some((i as f64, log_err(l.err[k])))
        })
        .collect();
    let dots = chart
        .draw_series(picks.iter().map(|&p| Circle::new(p, 3, BLACK.filled())))
        .map_err(|e| s(&e))?;
    if text {
        dots.label("chosen width")
            .legend(|(x, y)| Circle::new((x + 10, y), 3, BLACK.filled()));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 14))
            .draw()
            .map_err(|e| s(&e))?;
    }
    root.present().map_err(|e| s(&e))
}
