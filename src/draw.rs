//! Draw detections on an RGB image: class-coloured box outlines and a filled label with the
//! class name and confidence, in a built-in bitmap font (no font files).
//!
//! Guarantees: line width follows Ultralytics' `max(round((h + w) / 2 * 0.003), 2)` px; box
//! colours are Ultralytics' 20-colour palette indexed by class; every drawing call clips to
//! the image (boxes partly or wholly outside never panic); the label sits above the box, or
//! just inside its top edge when there is no room above, shifted left to stay in the image;
//! the label text is black or white,
//! whichever contrasts with the box colour.

mod font;

pub use font::{glyph, text_size};

use crate::postprocess::Detection;
use image::{Rgb, RgbImage};

/// Ultralytics' default palette (`ultralytics.utils.plotting.Colors`).
const PALETTE: [u32; 20] = [
    0xFF3838, 0xFF9D97, 0xFF701F, 0xFFB21D, 0xCFD231, 0x48F90A, 0x92CC17, 0x3DDB86, 0x1A9334,
    0x00D4BB, 0x2C99A8, 0x00C2FF, 0x344593, 0x6473FF, 0x0018EC, 0x8438FF, 0x520085, 0xCB38FF,
    0xFF95C8, 0xFF37C7,
];

/// Colour of class `cls`.
pub fn class_color(cls: usize) -> Rgb<u8> {
    let c = PALETTE[cls % PALETTE.len()];
    Rgb([(c >> 16) as u8, (c >> 8) as u8, c as u8])
}

/// Box line width for an image, as Ultralytics' `Annotator` chooses it.
pub fn line_width(img: &RgbImage) -> u32 {
    let half_sum = (img.width() + img.height()) as f64 / 2.0;
    ((half_sum * 0.003).round_ties_even() as u32).max(2)
}

/// Fill the rectangle `[x0, x1) × [y0, y1)` (clipped to the image).
pub fn fill_rect(img: &mut RgbImage, x0: i64, y0: i64, x1: i64, y1: i64, color: Rgb<u8>) {
    let (w, h) = (img.width() as i64, img.height() as i64);
    for y in y0.max(0)..y1.min(h) {
        for x in x0.max(0)..x1.min(w) {
            img.put_pixel(x as u32, y as u32, color);
        }
    }
}

/// Outline `[x1, y1, x2, y2]` with lines `lw` pixels thick centred on the box edges.
pub fn draw_box(img: &mut RgbImage, xyxy: [f32; 4], lw: u32, color: Rgb<u8>) {
    let [x1, y1, x2, y2] = xyxy.map(|v| v.clamp(-1e6, 1e6) as i64);
    let (lo, hi) = (lw as i64 / 2, lw as i64 - lw as i64 / 2);
    fill_rect(img, x1 - lo, y1 - lo, x2 + hi, y1 + hi, color);
    fill_rect(img, x1 - lo, y2 - lo, x2 + hi, y2 + hi, color);
    fill_rect(img, x1 - lo, y1 - lo, x1 + hi, y2 + hi, color);
    fill_rect(img, x2 - lo, y1 - lo, x2 + hi, y2 + hi, color);
}

/// Draw `text` with its top-left corner at (x, y), `scale` image pixels per font pixel.
pub fn draw_text(img: &mut RgbImage, x: i64, y: i64, text: &str, scale: u32, color: Rgb<u8>) {
    let (w, h) = (img.width() as i64, img.height() as i64);
    font::render(text, x, y, scale, |px, py| {
        if (0..w).contains(&px) && (0..h).contains(&py) {
            img.put_pixel(px as u32, py as u32, color);
        }
    });
}

/// Black or white, whichever reads better on `bg` (ITU-R BT.601 luma).
fn text_color(bg: Rgb<u8>) -> Rgb<u8> {
    let l = 0.299 * bg[0] as f32 + 0.587 * bg[1] as f32 + 0.114 * bg[2] as f32;
    if l > 150.0 {
        Rgb([0, 0, 0])
    } else {
        Rgb([255, 255, 255])
    }
}

/// Draw every detection (in original-image pixels) with its label `"name 0.87"`; all boxes
/// are drawn before the labels.
pub fn annotate(img: &mut RgbImage, dets: &[(Detection, String)]) {
    let lw = line_width(img);
    let scale = lw.div_ceil(2).max(1);
    let pad = scale as i64;
    // Boxes first, then labels, so no box line crosses a label.
    for (d, _) in dets {
        draw_box(img, d.xyxy, lw, class_color(d.cls));
    }
    for (d, name) in dets {
        let color = class_color(d.cls);
        let label = format!("{name} {:.2}", d.conf);
        let (tw, th) = text_size(&label, scale);
        let (tw, th) = (tw as i64 + 2 * pad, th as i64 + 2 * pad);
        let right = img.width() as i64 - tw;
        let x = (d.xyxy[0].clamp(-1e6, 1e6) as i64).min(right).max(0);
        let top = d.xyxy[1].clamp(-1e6, 1e6) as i64 - lw as i64 / 2;
        // Above the box if it fits, otherwise just inside the top edge.
        let y = if top - th >= 0 { top - th } else { top.max(0) };
        fill_rect(img, x, y, x + tw, y + th, color);
        draw_text(img, x + pad, y + pad, &label, scale, text_color(color));
    }
}
