//! Mixed weight widths. `--keep8`: the named layers get 8-bit weights and every other conv
//! `--wbits`; the widths are recorded per layer in scales.yaml; and the generated RTL of a
//! mixed-width, bias-corrected network is bit-exact against the integer model in Verilator.
//! A budget (`--wbits 4.5`): the widths chosen from the measured sensitivity (2 to 8 bits,
//! several of them) meet the budget, are recorded, and both architectures (layer-sequential
//! and folded) simulate the resulting network bit-exact in Verilator.
mod common;

use yoloq_gen::graph::Op;
use yoloq_gen::quant::budget::WeightBudget;
use yoloq_gen::quant::{store, QOp, QuantConfig, QuantGraph, Rounding};
use yoloq_gen::rtl::sim::{simulate, Simulator};
use yoloq_gen::synthetic;

fn cfg() -> QuantConfig {
    QuantConfig {
        wbits: 6,
        bias_correct: true,
        keep8: vec!["first".into(), "head".into()],
        ..QuantConfig::default()
    }
}

#[test]
fn keep8_layers_get_eight_bit_weights() {
    let q = synthetic::quant_graph(synthetic::SEED, 32, 2, &cfg()).unwrap();
    let mut seen = (0, 0);
    for (i, n) in q.nodes.iter().enumerate() {
        let QOp::Conv(c) = &n.op else { continue };
        let first = n
            .inputs
            .iter()
            .any(|&j| matches!(q.nodes[j].op, QOp::Input { .. }));
        let head = q.head.box_nodes.contains(&i) || q.head.cls_nodes.contains(&i);
        let want = if first || head { 8 } else { 6 };
        assert_eq!(c.wbits, want, "{}", n.name);
        let wm = (1 << (want - 1)) - 1;
        assert!(
            c.weight.iter().all(|&v| (-wm..=wm).contains(&v)),
            "{}",
            n.name
        );
        if want == 8 {
            // An 8-bit layer uses codes beyond the 6-bit range (its scales are finer).
            assert!(c.weight.iter().any(|&v| v.abs() > 31), "{}", n.name);
            seen.0 += 1;
        } else {
            seen.1 += 1;
        }
    }
    assert!(seen.0 >= 3 && seen.1 > 10, "{seen:?}");
    // A node-name prefix selects a whole module.
    let fg = yoloq_gen::fuse::fuse(
        &yoloq_gen::model::FloatGraph::from_checkpoint(&synthetic::checkpoint(synthetic::SEED))
            .unwrap(),
    );
    let g = fg.graph();
    let c = QuantConfig {
        keep8: vec!["model.22".into()],
        ..cfg()
    };
    for (i, n) in g.nodes.iter().enumerate() {
        if matches!(n.op, Op::Conv(_)) {
            let want = if n.name.starts_with("model.22.") {
                8
            } else {
                6
            };
            assert_eq!(
                yoloq_gen::quant::weights::layer_wbits(g, i, &c),
                want,
                "{}",
                n.name
            );
        }
    }
    // scales.yaml records each layer's width and the options.
    let dir = tempfile::tempdir().unwrap();
    store::save(&q, dir.path()).unwrap();
    let text = std::fs::read_to_string(dir.path().join(store::SCALES_FILE)).unwrap();
    assert!(text.contains("wbits: 8") && text.contains("wbits: 6"));
    let back = store::load(dir.path()).unwrap();
    assert_eq!(back.config, cfg());
}

#[test]
fn mixed_width_network_bit_exact_in_verilator() {
    if common::tool("verilator").is_none() {
        return;
    }
    let q = synthetic::quant_graph(synthetic::SEED, 32, synthetic::CALIB_IMAGES, &cfg()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let img = synthetic::image(synthetic::GOLDEN_IMAGE_SEED, 32);
    let m = yoloq_gen::rtl::layerseq::emit::generate(&q, 32, 3, &img, dir.path()).unwrap();
    let r = simulate(dir.path(), Simulator::Verilator).unwrap();
    print!("{}", r.table());
    assert!(r.pass, "{:?}", r.first_mismatch);
    assert_eq!(r.frame_sim, m.frame_cycles);
}

/// The synthetic model under a 4.5-bit average budget (GPTQ, bias correction: the defaults
/// below 8 bits).
fn budget_model() -> QuantGraph {
    let cfg = QuantConfig {
        wbudget: Some(WeightBudget::Average(4.5)),
        rounding: Rounding::Gptq,
        ..QuantConfig::default()
    };
    synthetic::quant_graph(synthetic::SEED, 32, synthetic::CALIB_IMAGES, &cfg).unwrap()
}

/// (weights, bits) of every integer convolution.
fn widths(q: &QuantGraph) -> Vec<(usize, u32)> {
    q.nodes
        .iter()
        .filter_map(|n| match &n.op {
            QOp::Conv(c) => Some((c.weight.len(), c.wbits)),
            _ => None,
        })
        .collect()
}

#[test]
fn budget_widths_meet_the_budget_and_are_recorded() {
    let q = budget_model();
    let w = widths(&q);
    let bits: f64 = w.iter().map(|&(n, b)| (n as u64 * b as u64) as f64).sum();
    let total: f64 = w.iter().map(|&(n, _)| n as f64).sum();
    let avg = bits / total;
    assert!(avg <= 4.5 && avg > 4.3, "average {avg}");
    let distinct: std::collections::BTreeSet<u32> = w.iter().map(|x| x.1).collect();
    assert!(distinct.len() >= 3, "widths {distinct:?}");
    assert!(distinct.iter().all(|b| (2..=8).contains(b)));
    for n in &q.nodes {
        if let QOp::Conv(c) = &n.op {
            let wm = (1 << (c.wbits - 1)) - 1;
            assert!(
                c.weight.iter().all(|&v| (-wm..=wm).contains(&v)),
                "{}",
                n.name
            );
        }
    }
    let sens = q.sensitivity.as_ref().expect("sensitivity kept");
    assert_eq!(sens.layers.len(), w.len());
    // Each layer's error falls with its width (up to noise at the top).
    for l in &sens.layers {
        assert!(l.err[0] >= l.err[6], "{}: {:?}", l.name, l.err);
    }
    let dir = tempfile::tempdir().unwrap();
    store::save(&q, dir.path()).unwrap();
    let back = store::load(dir.path()).unwrap();
    assert_eq!(back.config, q.config);
    assert_eq!(back.config.layer_bits.len(), w.len());
    // The recorded widths alone rebuild the same model (no second measurement).
    let again =
        synthetic::quant_graph(synthetic::SEED, 32, synthetic::CALIB_IMAGES, &q.config).unwrap();
    assert!(again.sensitivity.is_none());
    assert_eq!(widths(&again), w);
}

#[test]
fn budget_network_bit_exact_in_both_architectures() {
    if common::tool("verilator").is_none() {
        return;
    }
    let q = budget_model();
    let img = synthetic::image(synthetic::GOLDEN_IMAGE_SEED, 32);
    let dir = tempfile::tempdir().unwrap();
    let m = yoloq_gen::rtl::layerseq::emit::generate(&q, 32, 3, &img, dir.path()).unwrap();
    let r = simulate(dir.path(), Simulator::Verilator).unwrap();
    print!("layer-sequential:\n{}", r.table());
    assert!(r.pass, "layer-sequential: {:?}", r.first_mismatch);
    assert_eq!(r.frame_sim, m.frame_cycles);
    let dir = tempfile::tempdir().unwrap();
    yoloq_gen::rtl::folded::emit::generate(
        &q,
        32,
        yoloq_gen::rtl::folded::FoldHw::up5k(),
        &img,
        dir.path(),
    )
    .unwrap();
    let r = simulate(dir.path(), Simulator::Verilator).unwrap();
    print!("folded:\n{}", r.table());
    assert!(r.pass, "folded: {:?}", r.first_mismatch);
    assert_eq!(r.frame_sim, r.frame_pred, "folded frame cycles");
}
