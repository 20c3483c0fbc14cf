//! Every YOLOv8 detect scale loads from tensor shapes alone: checkpoints with the exact
//! Ultralytics shapes of n/s/m/l/x (built here from the YOLOv8 yaml rules, seeded values)
//! are recognised, have Ultralytics' fused parameter counts and run a forward pass.

use ndarray::{Array3, ArrayD, IxDyn};
use std::collections::BTreeMap;
use yoloq_gen::graph::Scale;
use yoloq_gen::import::{Checkpoint, CheckpointFormat};
use yoloq_gen::model::{run, FloatGraph};

struct Gen {
    t: BTreeMap<String, ArrayD<f32>>,
    seed: u64,
}

impl Gen {
    fn conv(&mut self, p: &str, c1: usize, c2: usize, k: usize, block: bool) {
        let mut next = || {
            self.seed ^= self.seed << 13;
            self.seed ^= self.seed >> 7;
            self.seed ^= self.seed << 17;
            ((self.seed % 2001) as f32 / 1000.0 - 1.0) * 0.05
        };
        let w = ArrayD::from_shape_simple_fn(IxDyn(&[c2, c1, k, k]), &mut next);
        let b = ArrayD::from_shape_simple_fn(IxDyn(&[c2]), &mut next);
        let p = if block {
            format!("{p}.conv")
        } else {
            p.to_string()
        };
        self.t.insert(format!("{p}.weight"), w);
        self.t.insert(format!("{p}.bias"), b);
    }
    fn c2f(&mut self, p: &str, c1: usize, c2: usize, n: usize) {
        let c = c2 / 2;
        self.conv(&format!("{p}.cv1"), c1, 2 * c, 1, true);
        for i in 0..n {
            self.conv(&format!("{p}.m.{i}.cv1"), c, c, 3, true);
            self.conv(&format!("{p}.m.{i}.cv2"), c, c, 3, true);
        }
        self.conv(&format!("{p}.cv2"), (2 + n) * c, c2, 1, true);
    }
}

/// A fused checkpoint with the shapes of YOLOv8 at width `w`, depth `d`, channel cap `mc`.
fn yolov8(w: f64, d: f64, mc: usize, nc: usize) -> Checkpoint {
    let ch = |c: usize| ((c.min(mc) as f64 * w / 8.0).ceil() as usize) * 8;
    let n = |r: usize| ((r as f64 * d).round() as usize).max(1);
    let mut g = Gen {
        t: BTreeMap::new(),
        seed: 0x9E37_79B9,
    };
    let (c64, c128, c256, c512, c1024) = (ch(64), ch(128), ch(256), ch(512), ch(1024));
    g.conv("model.0", 3, c64, 3, true);
    g.conv("model.1", c64, c128, 3, true);
    g.c2f("model.2", c128, c128, n(3));
    g.conv("model.3", c128, c256, 3, true);
    g.c2f("model.4", c256, c256, n(6));
    g.conv("model.5", c256, c512, 3, true);
    g.c2f("model.6", c512, c512, n(6));
    g.conv("model.7", c512, c1024, 3, true);
    g.c2f("model.8", c1024, c1024, n(3));
    g.conv("model.9.cv1", c1024, c1024 / 2, 1, true);
    g.conv("model.9.cv2", c1024 / 2 * 4, c1024, 1, true);
    g.c2f("model.12", c1024 + c512, c512, n(3));
    g.c2f("model.15", c512 + c256, c256, n(3));
    g.conv("model.16", c256, c256, 3, true);
    g.c2f("model.18", c256 + c512, c512, n(3));
    g.conv("model.19", c512, c512, 3, true);
    g.c2f("model.21", c512 + c1024, c1024, n(3));
    let chs = [c256, c512, c1024];
    let (c2, c3) = ((chs[0] / 4).max(16).max(64), chs[0].max(nc.min(100)));
    for (i, &x) in chs.iter().enumerate() {
        g.conv(&format!("model.22.cv2.{i}.0"), x, c2, 3, true);
        g.conv(&format!("model.22.cv2.{i}.1"), c2, c2, 3, true);
        g.conv(&format!("model.22.cv2.{i}.2"), c2, 64, 1, false);
        g.conv(&format!("model.22.cv3.{i}.0"), x, c3, 3, true);
        g.conv(&format!("model.22.cv3.{i}.1"), c3, c3, 3, true);
        g.conv(&format!("model.22.cv3.{i}.2"), c3, nc, 1, false);
    }
    g.t.insert(
        "model.22.dfl.conv.weight".into(),
        ArrayD::from_shape_fn(IxDyn(&[1, 16, 1, 1]), |i| i[1] as f32),
    );
    Checkpoint {
        path: "generated.safetensors".into(),
        format: CheckpointFormat::Safetensors,
        tensors: g.t,
        bn_eps: BTreeMap::new(),
        class_names: None,
        strides: None,
    }
}

#[test]
fn every_scale_loads_with_ultralytics_parameter_counts() {
    // (scale, width, depth, max channels, Ultralytics "Model summary (fused)" parameter count)
    let scales = [
        (Scale::N, 0.25, 0.33, 1024, 3_151_904usize),
        (Scale::S, 0.50, 0.33, 1024, 11_156_544),
        (Scale::M, 0.75, 0.67, 768, 25_886_080),
        (Scale::L, 1.00, 1.00, 512, 43_668_288),
        (Scale::X, 1.25, 1.00, 512, 68_200_608),
    ];
    for (scale, w, d, mc, params) in scales {
        let ck = yolov8(w, d, mc, 80);
        let total: usize = ck.tensors.values().map(|t| t.len()).sum();
        assert_eq!(
            total, params,
            "{scale:?}: generated shapes disagree with Ultralytics"
        );
        let fg = FloatGraph::from_checkpoint(&ck).unwrap();
        assert_eq!(fg.graph().scale, scale);
        assert_eq!(fg.graph().num_params() + 16, params);
        if matches!(scale, Scale::N | Scale::S) {
            // Non-square input, multiple of 32.
            let x = Array3::from_shape_fn((3, 64, 96), |(c, y, x)| ((c + y + x) % 7) as f32 / 7.0);
            let out = run(fg.graph(), &x, false).output;
            assert_eq!(out.dim(), (84, 2 * 3 + 4 * 6 + 8 * 12));
            assert!(out.iter().all(|v| v.is_finite()));
        }
    }
}
