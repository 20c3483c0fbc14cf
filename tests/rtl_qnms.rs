//! The hardware DFL / decode / NMS stage on head outputs built to stress it: many
//! candidates of two classes whose boxes overlap, so that the class-aware suppression,
//! the score-order selection (with ties) and the record writing are all exercised. The
//! expected records come from `quant::qhead::postprocess`, the integer reference.
mod common;

use ndarray::Array3;
use yoloq_gen::quant::qhead;
use yoloq_gen::quant::QuantConfig;
use yoloq_gen::rtl::layerseq::{self, emit, LayerParams};
use yoloq_gen::rtl::qnms::NMS;
use yoloq_gen::rtl::sim::{simulate_layer, Simulator};
use yoloq_gen::rtl::{golden, hex, plan};
use yoloq_gen::synthetic;

/// A small deterministic generator (64-bit LCG, high bits).
struct Lcg(u64);
impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// Head codes for one level: the anchors of each 2x2 block share a class (blocks
/// alternate between classes 0 and 1) and mostly the same box (left/right and top/bottom
/// distances mirrored by the anchor's parity, sometimes one bin shorter), so most of them
/// overlap above the IoU threshold; a few anchors have flat class codes. Each side's
/// distribution is one sharp peak.
fn level_codes(
    rng: &mut Lcg,
    nc: usize,
    rm: usize,
    h: usize,
    w: usize,
    bq: i32,
    cq: i32,
) -> (Array3<i32>, Array3<i32>) {
    let mut b = Array3::<i32>::zeros((4 * rm, h, w));
    let mut c = Array3::<i32>::zeros((nc, h, w));
    for y in 0..h {
        for x in 0..w {
            if rng.below(6) > 0 {
                // Few distinct values, so equal scores (ties) occur.
                c[[(x / 2 + y / 2) % nc.min(2), y, x]] = cq - rng.below(4) as i32;
            }
            let (px, py) = (x % 2, y % 2);
            let sides = [rm - 2 + px, rm - 2 + py, rm - 1 - px, rm - 1 - py];
            for (s, &d) in sides.iter().enumerate() {
                let peak = if rng.below(5) == 0 { d - 1 } else { d };
                b[[s * rm + peak, y, x]] = bq;
            }
        }
    }
    (b, c)
}

fn simulators() -> Vec<Simulator> {
    let mut v = Vec::new();
    if common::tool("iverilog").is_some() {
        v.push(Simulator::Icarus);
    }
    if common::tool("verilator").is_some() {
        v.push(Simulator::Verilator);
    }
    v
}

#[test]
fn nms_stage_bit_exact_on_overlapping_candidates() {
    let sims = simulators();
    if sims.is_empty() {
        return;
    }
    let q = synthetic::quant_graph(
        synthetic::SEED,
        32,
        synthetic::CALIB_IMAGES,
        &QuantConfig::default(),
    )
    .unwrap();
    let size = 64;
    let pl = plan::plan(&q, size, size).unwrap();
    let mut d = layerseq::lower(&pl, 4).unwrap();
    let mut g = golden::golden(
        &q,
        &pl,
        &synthetic::image(synthetic::GOLDEN_IMAGE_SEED, size),
    );
    let li = d.layers.iter().position(|l| l.kind == "qnms").unwrap();
    let LayerParams::Qnms(p) = d.layers[li].params.clone() else {
        unreachable!()
    };
    let t = q.qnms.as_ref().unwrap();
    let (h, rm, nc) = (&q.head, q.head.reg_max, q.head.nc);

    let mut rng = Lcg(7);
    let (mut boxes, mut classes) = (Vec::new(), Vec::new());
    let mut img = String::new();
    for (l, lt) in t.levels.iter().enumerate() {
        let [_, hh, ww] = d.nodes[h.cls_nodes[l]].shape;
        let (b, c) = level_codes(
            &mut rng,
            nc,
            rm,
            hh,
            ww,
            lt.box_fmt.qmax(),
            lt.cls_fmt.qmax(),
        );
        for (node, v) in [(h.box_nodes[l], &b), (h.cls_nodes[l], &c)] {
            img.push_str(&format!("@{:x}\n", d.nodes[node].base));
            img.push_str(&hex::image(
                v.iter().map(|&x| hex::word(&[(x as i64, d.abits)])),
            ));
        }
        boxes.push(b);
        classes.push(c);
    }
    let br: Vec<&Array3<i32>> = boxes.iter().collect();
    let cr: Vec<&Array3<i32>> = classes.iter().collect();
    let cands = qhead::candidates(t, rm, &br, &cr, NMS.conf, NMS.multi_label);
    let run = p.schedule(&cands);
    let reference = qhead::postprocess(
        t,
        rm,
        &br,
        &cr,
        NMS.conf,
        NMS.iou,
        NMS.max_det,
        NMS.multi_label,
    );
    assert_eq!(
        run.kept, reference,
        "the engine's schedule is the reference NMS"
    );
    // The input must exercise what it is for.
    let classes_kept: std::collections::BTreeSet<usize> = run.kept.iter().map(|k| k.cls).collect();
    assert!(
        cands.len() >= 20 && run.kept.len() >= 3 && run.kept.len() * 4 <= cands.len() * 3,
        "{} candidates, {} kept",
        cands.len(),
        run.kept.len()
    );
    assert_eq!(classes_kept.len(), 2);
    assert!(
        cands.windows(2).any(|w| w[0].score == w[1].score),
        "score ties"
    );

    // Replace the stage's golden input and output, then emit and simulate the layer alone.
    g.layer_inputs[li] = img;
    g.codes.truncate(g.offsets[li]);
    g.codes.extend(run.codes.iter().copied());
    d.set_qnms_run(&run);
    g.qnms = Some(run.clone());
    let dir = tempfile::tempdir().unwrap();
    emit::emit(&d, &g, dir.path()).unwrap();
    for &sim in &sims {
        let r = simulate_layer(dir.path(), sim, li).unwrap();
        print!("{}", r.table());
        assert!(r.pass, "{}: {:?}", sim.name(), r.first_mismatch);
        assert_eq!(r.rows[0].writes, run.codes.len());
        assert_eq!(r.rows[0].cycles_sim, run.cycles, "{}", sim.name());
    }

    // A wrong score byte in the third record is reported as such.
    let path = dir.path().join("tb/golden.hex");
    let mut lines: Vec<String> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    let idx = g.offsets[li] + 2 + 2 * qnms_record() + 8;
    let want = u32::from_str_radix(&lines[idx], 16).unwrap();
    lines[idx] = format!("{:02x}", want ^ 4);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let r = simulate_layer(dir.path(), *sims.last().unwrap(), li).unwrap();
    assert!(!r.pass);
    assert_eq!(
        r.first_mismatch.unwrap(),
        format!(
            "layer {li} qnms: detection 2 score byte 0 got {want} want {}",
            want ^ 4
        )
    );
}

fn qnms_record() -> usize {
    yoloq_gen::rtl::qnms::RECORD
}
