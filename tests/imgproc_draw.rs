//! Drawing: box edges take the class colour, labels appear above boxes, the font renders the
//! characters it promises, and nothing panics on boxes outside the image.
use image::{Rgb, RgbImage};
use yoloq_gen::draw::{annotate, class_color, draw_text, glyph, line_width, text_size};
use yoloq_gen::postprocess::Detection;

const BG: Rgb<u8> = Rgb([10, 20, 30]);

fn det(xyxy: [f32; 4], cls: usize) -> Detection {
    Detection {
        xyxy,
        conf: 0.87,
        cls,
    }
}

#[test]
fn box_edges_take_class_colour_and_interior_is_untouched() {
    let mut img = RgbImage::from_pixel(400, 300, BG);
    assert_eq!(line_width(&img), 2);
    annotate(
        &mut img,
        &[(det([100.0, 120.0, 200.0, 250.0], 3), "person".into())],
    );
    let c = class_color(3);
    for &(x, y) in &[
        (100, 180),
        (200, 180),
        (150, 120),
        (150, 250),
        (100, 250),
        (199, 121),
    ] {
        assert_eq!(*img.get_pixel(x, y), c, "edge pixel ({x}, {y})");
    }
    for &(x, y) in &[(150, 180), (103, 200), (50, 50), (300, 280), (150, 253)] {
        assert_eq!(
            *img.get_pixel(x, y),
            BG,
            "pixel ({x}, {y}) should be untouched"
        );
    }
    // The label sits above the top edge: its background is the class colour and it holds text.
    let label: Vec<Rgb<u8>> = (100..160)
        .flat_map(|x| (100..119).map(move |y| (x, y)))
        .map(|(x, y)| *img.get_pixel(x, y))
        .collect();
    assert!(
        label.iter().filter(|&&p| p == c).count() > 100,
        "no label background"
    );
    assert!(label.iter().any(|&p| p != c && p != BG), "no label text");
}

#[test]
fn label_moves_inside_when_box_touches_top_and_clipping_never_panics() {
    let mut img = RgbImage::from_pixel(64, 48, BG);
    annotate(&mut img, &[(det([5.0, 0.0, 40.0, 30.0], 0), "bus".into())]);
    // Label background from the box's top-left corner, white text inside it.
    assert_eq!(
        *img.get_pixel(11, 5),
        class_color(0),
        "gap between the first two glyphs"
    );
    assert!((6..20).any(|x| (1..8).any(|y| *img.get_pixel(x, y) == Rgb([255, 255, 255]))));
    assert_eq!(*img.get_pixel(20, 20), BG);
    let before = img.clone();
    annotate(
        &mut img,
        &[
            (det([-50.0, -50.0, 500.0, 500.0], 1), "Stop Sign".into()),
            (det([1e9, 1e9, 2e9, 2e9], 2), String::new()),
            (
                det([f32::NAN, 3.0, f32::INFINITY, -f32::INFINITY], 79),
                "??".into(),
            ),
        ],
    );
    assert_ne!(img, before);
}

#[test]
fn line_width_follows_ultralytics() {
    // bus.jpg is 810×1080: round(945 * 0.003) = round(2.835) = 3.
    assert_eq!(line_width(&RgbImage::new(810, 1080)), 3);
    assert_eq!(line_width(&RgbImage::new(1280, 720)), 3);
    assert_eq!(line_width(&RgbImage::new(4000, 3000)), 10);
}

#[test]
fn font_covers_its_characters_with_distinct_glyphs() {
    let chars = "abcdefghijklmnopqrstuvwxyz0123456789.%-:";
    let glyphs: Vec<[u8; 7]> = chars.chars().map(glyph).collect();
    for (i, g) in glyphs.iter().enumerate() {
        assert!(
            g.iter().any(|&r| r != 0),
            "blank glyph for {:?}",
            chars.chars().nth(i)
        );
        assert!(g.iter().all(|&r| r < 32), "glyph wider than 5 columns");
        for (j, h) in glyphs.iter().enumerate().skip(i + 1) {
            assert_ne!(
                g,
                h,
                "{:?} and {:?} look the same",
                chars.chars().nth(i),
                chars.chars().nth(j)
            );
        }
    }
    assert_eq!(glyph('A'), glyph('a'));
    assert_eq!(glyph(' '), [0; 7]);
    assert_eq!(glyph('é'), glyph('?'));
    assert_eq!(text_size("ab 1", 2), ((4 * 6 - 1) * 2, 14));
}

#[test]
fn text_pixels_match_the_glyph_bitmap() {
    // Draw "1" at scale 3 and compare with a naive expansion of the glyph rows.
    let mut img = RgbImage::from_pixel(20, 25, BG);
    let white = Rgb([255, 255, 255]);
    draw_text(&mut img, 2, 1, "1", 3, white);
    let g = glyph('1');
    for y in 0..25u32 {
        for x in 0..20u32 {
            let (fx, fy) = ((x as i64 - 2).div_euclid(3), (y as i64 - 1).div_euclid(3));
            let lit =
                (0..5).contains(&fx) && (0..7).contains(&fy) && g[fy as usize] & (0x10 >> fx) != 0;
            assert_eq!(*img.get_pixel(x, y) == white, lit, "pixel ({x}, {y})");
        }
    }
}
