//! Row bands of the folded engine on a board with DRAM (`rtl::folded::band`): the band rule,
//! the tile allocation and the copies, run on byte memories by `rtl::folded::bandrun`, must
//! give every layer's tensor exactly as the integer reference model computes it (the golden
//! vectors), for the synthetic model with tiles small enough to force many bands and chunked
//! partial sums, and for the real YOLOv8n at 640x640 with the ULX3S's tile memory.
mod common;

use std::path::Path;

use yoloq_gen::quant::int_model::input_codes;
use yoloq_gen::quant::{QuantConfig, QuantGraph};
use yoloq_gen::rtl::folded::band::{self, Banding};
use yoloq_gen::rtl::folded::{banded, bandrun, FoldHw};
use yoloq_gen::rtl::golden::golden;
use yoloq_gen::rtl::plan::{self, LayerPlan, Plan};
use yoloq_gen::synthetic;

/// Run the banding and compare every banded layer's tensor with the golden vectors.
fn check(q: &QuantGraph, p: &Plan, b: &Banding, x: &ndarray::Array3<f32>) -> usize {
    let g = golden(q, p, x);
    let input = input_codes(x, 0);
    let mut checked = 0;
    bandrun::run(q, p, b, &input, |i, dram| {
        let l = &p.layers[i];
        let n: usize = l.shape.iter().product();
        let want = &g.codes[g.offsets[i]..g.offsets[i] + n];
        let got = &dram[l.out_base..l.out_base + n];
        let bad = want.iter().zip(got).position(|(&w, &v)| w != v as i32);
        assert!(
            bad.is_none(),
            "{} ({} bands): element {} is {}, the integer model says {}",
            l.name,
            b.layers[i].bands.len(),
            bad.unwrap(),
            got[bad.unwrap()],
            want[bad.unwrap()]
        );
        checked += 1;
    });
    checked
}

fn banded_layers(p: &Plan) -> usize {
    p.layers
        .iter()
        .filter(|l| !matches!(l.params, LayerPlan::Qnms(_)))
        .count()
}

#[test]
fn synthetic_model_in_small_tiles_is_exact() {
    let cfg = QuantConfig::default();
    let q = synthetic::quant_graph(synthetic::SEED, 64, synthetic::CALIB_IMAGES, &cfg).unwrap();
    let p = plan::plan(&q, 64, 64).unwrap();
    let x = synthetic::image(synthetic::GOLDEN_IMAGE_SEED, 64);
    // 32-tap slots force partial sums; the tiles from roomy down to the tightest that fits.
    let hw = FoldHw {
        wtaps: 32,
        ..FoldHw::up5k()
    };
    let mut seen_many = false;
    for tile in [1 << 16, 12 << 10, 6 << 10] {
        let b = band::split(&q, &p, &hw, tile, 34).unwrap();
        assert!(b.layers.iter().all(|l| l.tile_used <= tile));
        seen_many |= b.layers.iter().any(|l| l.bands.len() >= 4);
        assert_eq!(check(&q, &p, &b, &x), banded_layers(&p), "tile {tile}");
        // The pixels the host sends cover the image once.
        let mut order = band::pixel_order(&b, &p);
        order.sort_unstable();
        assert!(order.iter().enumerate().all(|(i, &v)| i == v));
        assert_eq!(order.len(), 3 * 64 * 64);
    }
    assert!(seen_many, "no tile size split a layer into 4 or more bands");
    // Every copy is whole 16-bit words, as yq_fold_dma moves them.
    let b = band::split(&q, &p, &hw, 6 << 10, 34).unwrap();
    for d in b
        .layers
        .iter()
        .flat_map(|l| &l.bands)
        .flat_map(|b| b.loads.iter().chain([&b.store]))
    {
        assert!(
            [d.dram, d.chip, d.seg, d.dstride, d.cstride]
                .iter()
                .all(|v| v % 2 == 0),
            "{d:?}"
        );
    }
    // At 96x96 the last level is 3 pixels wide: its copies would split words.
    let q96 = synthetic::quant_graph(synthetic::SEED, 96, synthetic::CALIB_IMAGES, &cfg).unwrap();
    let p96 = plan::plan(&q96, 96, 96).unwrap();
    let e = band::split(&q96, &p96, &hw, 1 << 16, 34)
        .unwrap_err()
        .to_string();
    assert!(e.contains("16-bit words") && e.contains("--imgsz"), "{e}");
    // A tile too small for one band of the widest layer is refused, naming the layer.
    let e = band::split(&q, &p, &hw, 512, 34).unwrap_err().to_string();
    assert!(e.contains("bands") || e.contains("band of"), "{e}");
    assert!(e.contains("--imgsz"), "{e}");
}

#[test]
fn yolov8n_at_640_in_ulx3s_tiles_is_exact() {
    let (Some(models), Some(bus)) = (
        common::shared("models"),
        common::shared("data/samples/bus.jpg"),
    ) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("q");
    let data_dir = models.parent().unwrap();
    let s = |p: &Path| p.to_str().unwrap().to_string();
    common::yoloq_ok(
        &[
            "quantize",
            "--model",
            &s(&models.join("yolov8n-coco-synthbn.pt")),
            "--bits",
            "8",
            "--qnms",
            "--calib-images",
            "8",
            "--out",
            &s(&dir),
        ],
        data_dir,
    );
    let q = yoloq_gen::quant::store::load(&dir).unwrap();
    let p = plan::plan(&q, 640, 640).unwrap();
    let img = yoloq_gen::image_io::load_rgb(&bus).unwrap();
    let x = yoloq_gen::preprocess::letterbox(&img, (640, 640), false, 32).tensor;
    let hw = FoldHw {
        lanes: 64,
        ..FoldHw::up5k()
    };
    let b = band::split(&q, &p, &hw, 256 << 10, 34).unwrap();
    let bands: usize = b.layers.iter().map(|l| l.bands.len()).sum();
    eprintln!(
        "YOLOv8n 640: {} MACs, {} layers, {bands} bands; DRAM {} B of tensors, {} B loaded + {} B stored per frame; flash {} B per frame",
        p.total_macs,
        p.layers.len(),
        b.dram_used,
        b.dram_load,
        b.dram_store,
        b.flash_bytes
    );
    assert!(b.layers.iter().any(|l| l.bands.len() > 1));
    assert_eq!(check(&q, &p, &b, &x), banded_layers(&p));
    // The lowered schedule at the lane counts the 85F can hold (tile memory: the block RAM
    // the weight buffers leave), weights from dual-I/O flash (8 cycles per byte) or copied
    // into SDRAM (a byte per cycle, the loader's own rate).
    eprintln!("lanes | tile KiB | weights | bands | flash/DRAM weight bytes | copy bytes | frame cycles | MAC util | at 50 MHz");
    for (lanes, tile_kib) in [(16, 256), (64, 256), (64, 128), (128, 128)] {
        for byte_cycles in [8, 1] {
            let hw = FoldHw {
                lanes,
                mem_bytes: tile_kib << 10,
                byte_cycles,
                ..FoldHw::up5k()
            };
            let b = band::split(&q, &p, &hw, tile_kib << 10, 34).unwrap();
            let d = banded::lower(&q, &p, hw, &b).unwrap();
            let bands: usize = b.layers.iter().map(|l| l.bands.len()).sum();
            let util = p.total_macs as f64 / (lanes as u64 * d.frame_cycles) as f64;
            eprintln!(
                "{lanes} | {tile_kib} | {} | {bands} | {} | {} | {} | {util:.3} | {:.3} s",
                if byte_cycles == 8 { "flash" } else { "SDRAM" },
                d.flash.len(),
                b.dram_load + b.dram_store,
                d.frame_cycles,
                d.frame_cycles as f64 / 50e6
            );
            // Every band's record and every copy is in the image, each band's layer computes its
            // share of the MACs.
            assert_eq!(d.layers.iter().map(|l| l.macs).sum::<u64>(), p.total_macs);
            assert!(d.frame_cycles * lanes as u64 >= p.total_macs);
        }
    }
}
