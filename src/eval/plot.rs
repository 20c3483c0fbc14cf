//! PNG plots of evaluation results: precision–recall curves (IoU 0.5 and 0.5:0.95, one line
//! per stage/model) and AP / AP50 bars per stage.
//!
//! Guarantees: the PNG is written atomically with the requested size. Text needs a TrueType
//! font, looked up once in `$YOLOQ_FONT` and common system paths (Debian: `fonts-dejavu-core`);
//! without one the plots are drawn without any text instead of failing.

use super::cocoeval::EvalResult;
use crate::error::{Error, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;
use std::sync::OnceLock;

const FONT_PATHS: [&str; 6] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
    "C:\\Windows\\Fonts\\arial.ttf",
];

/// Register a sans-serif font with plotters once; true when text can be drawn.
pub fn font_available() -> bool {
    static OK: OnceLock<bool> = OnceLock::new();
    *OK.get_or_init(|| {
        let env = std::env::var("YOLOQ_FONT").ok();
        let found = env.iter().map(String::as_str).chain(FONT_PATHS).any(|p| {
            let Ok(bytes) = std::fs::read(p) else {
                return false;
            };
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok()
        });
        found
    })
}

fn draw_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::data(path, format!("cannot draw plot: {e}"))
}

/// Render with `draw` into an RGB buffer of `size` and write it as PNG.
fn render<F>(path: &Path, size: (u32, u32), draw: F) -> Result<()>
where
    F: FnOnce(&DrawingArea<BitMapBackend, Shift>) -> std::result::Result<(), String>,
{
    let mut buf = vec![255u8; size.0 as usize * size.1 as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut buf, size).into_drawing_area();
        draw(&root).map_err(|e| draw_err(path, e))?;
        root.present().map_err(|e| draw_err(path, e))?;
    }
    let img = image::RgbImage::from_raw(size.0, size.1, buf)
        .ok_or_else(|| draw_err(path, "buffer size"))?;
    let mut png = std::io::Cursor::new(Vec::new());
    img.write_to(&mut png, image::ImageFormat::Png)
        .map_err(|e| draw_err(path, e))?;
    crate::util::write_atomic(path, &png.into_inner())
}

/// Precision–recall curves: left panel IoU 0.5, right panel mean over IoU 0.5:0.95; one line
/// per `(name, result)` (area all, 100 detections, mean over classes). Writes a 1200×500 PNG.
pub fn plot_pr_curves(path: &Path, series: &[(&str, &EvalResult)]) -> Result<()> {
    pr_png(path, series, font_available())
}

fn pr_png(path: &Path, series: &[(&str, &EvalResult)], text: bool) -> Result<()> {
    render(path, (1200, 500), |root| {
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let (l, r) = root.split_horizontally(600);
        pr_panel(&l, "PR curve, IoU 0.5", series, |e| &e.pr_iou50, text)?;
        pr_panel(
            &r,
            "PR curve, IoU 0.5:0.95",
            series,
            |e| &e.pr_iou_mean,
            text,
        )
    })
}

fn pr_panel(
    area: &DrawingArea<BitMapBackend, Shift>,
    title: &str,
    series: &[(&str, &EvalResult)],
    curve: impl Fn(&EvalResult) -> &Vec<f64>,
    text: bool,
) -> std::result::Result<(), String> {
    let s = |e: &dyn std::fmt::Display| e.to_string();
    let mut b = ChartBuilder::on(area);
    b.margin(15);
    if text {
        b.caption(title, ("sans-serif", 20))
            .x_label_area_size(40)
            .y_label_area_size(50);
    }
    let mut chart = b
        .build_cartesian_2d(0f64..1f64, 0f64..1.01f64)
        .map_err(|e| s(&e))?;
    let mut mesh = chart.configure_mesh();
    if text {
        mesh.x_desc("recall").y_desc("precision");
    } else {
        mesh.x_labels(0).y_labels(0);
    }
    mesh.draw().map_err(|e| s(&e))?;
    for (i, (name, res)) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let n = curve(res).len().max(2) - 1;
        let pts: Vec<(f64, f64)> = curve(res)
            .iter()
            .enumerate()
            .filter(|(_, &p)| p >= 0.0)
            .map(|(r, &p)| (r as f64 / n as f64, p))
            .collect();
        let drawn = chart
            .draw_series(LineSeries::new(pts, color.stroke_width(2)))
            .map_err(|e| s(&e))?;
        if text {
            let label = format!("{name} (AP50 {:.3}, AP {:.3})", res.stats[1], res.stats[0]);
            drawn.label(label).legend(move |(x, y)| {
                PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2))
            });
        }
    }
    if text && !series.is_empty() {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .label_font(("sans-serif", 14))
            .draw()
            .map_err(|e| s(&e))?;
    }
    Ok(())
}

/// Bars of AP@[.5:.95] (dark) and AP50 (light) per named stage, from COCO `stats` rows.
/// Writes a PNG 200 px wide per stage (at least 600) and 450 px high.
pub fn plot_ap_bars(path: &Path, rows: &[(String, [f64; 12])]) -> Result<()> {
    bars_png(path, rows, font_available())
}

fn bars_png(path: &Path, rows: &[(String, [f64; 12])], text: bool) -> Result<()> {
    let width = (200 * rows.len() as u32).max(600);
    render(path, (width, 450), |root| {
        let s = |e: &dyn std::fmt::Display| e.to_string();
        root.fill(&WHITE).map_err(|e| s(&e))?;
        let mut b = ChartBuilder::on(root);
        b.margin(15);
        if text {
            b.caption(
                "AP@[.5:.95] (dark) and AP50 (light) per stage",
                ("sans-serif", 22),
            )
            .x_label_area_size(40)
            .y_label_area_size(50);
        }
        let n = rows.len().max(1) as f64;
        let mut chart = b
            .build_cartesian_2d(0f64..n, 0f64..1f64)
            .map_err(|e| s(&e))?;
        let mut mesh = chart.configure_mesh();
        mesh.disable_x_mesh().x_labels(0);
        if text {
            mesh.y_desc("AP");
        } else {
            mesh.y_labels(0);
        }
        mesh.draw().map_err(|e| s(&e))?;
        let dark = RGBColor(31, 119, 180);
        let light = RGBColor(158, 202, 225);
        for (i, (name, st)) in rows.iter().enumerate() {
            let x = i as f64;
            let bars = [
                (x + 0.1, x + 0.48, st[0].max(0.0), dark),
                (x + 0.52, x + 0.9, st[1].max(0.0), light),
            ];
            for (x0, x1, v, c) in bars {
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(x0, 0.0), (x1, v)],
                        c.filled(),
                    )))
                    .map_err(|e| s(&e))?;
                if text {
                    let label = Text::new(
                        format!("{v:.3}"),
                        (x0, (v + 0.04).min(0.98)),
                        ("sans-serif", 14),
                    );
                    chart
                        .draw_series(std::iter::once(label))
                        .map_err(|e| s(&e))?;
                }
            }
            if text {
                let label = Text::new(name.clone(), (x + 0.1, 0.97), ("sans-serif", 15));
                chart
                    .draw_series(std::iter::once(label))
                    .map_err(|e| s(&e))?;
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Without a font nothing textual is drawn, and the plots are still written.
    #[test]
    fn plots_without_text() {
        let tmp = tempfile::tempdir().unwrap();
        let (pr, bars) = (tmp.path().join("pr.png"), tmp.path().join("bars.png"));
        let gt = super::super::coco_json::CocoGt::default();
        let res = super::super::cocoeval::evaluate(&gt, &[]);
        pr_png(&pr, &[("x", &res)], false).unwrap();
        bars_png(&bars, &[("x".into(), [0.5; 12])], false).unwrap();
        let img = image::open(&pr).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), (1200, 500));
        let img = image::open(&bars).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), (600, 450));
        assert!(img.pixels().filter(|p| p.0 == [31, 119, 180]).count() > 5000);
    }
}
