//! Integer model: kernels vs naive references, and tracking of the float model at 16 bits.
mod common;

use ndarray::{Array3, Array4, Ix3};
use proptest::prelude::*;
use yoloq_gen::fuse::fuse;
use yoloq_gen::import::safetensors_io::read_tensors;
use yoloq_gen::model::{run, FloatGraph};
use yoloq_gen::quant::int_model::{forward as int_forward, NmsParams, Value};
use yoloq_gen::quant::kernels::{conv_acc, conv_acc_naive, conv_output};
use yoloq_gen::quant::spec::{requant, QFormat};
use yoloq_gen::quant::{calibrate, quantize, QConv, QuantConfig};

fn qconv(w: Array4<i32>, bias: Vec<i64>, stride: usize, pad_value: i32, shift: i32) -> QConv {
    let (co, pad) = (w.shape()[0], w.shape()[2] / 2);
    let mut q = QConv::plain(w, bias, stride, pad, pad_value);
    q.shift = vec![shift; co];
    q
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]
    #[test]
    fn int_conv_equals_naive(ci in 1usize..5, co in 1usize..6, h in 2usize..9, w in 2usize..9,
                             k in prop::sample::select(vec![1usize, 3]), stride in 1usize..3,
                             wbits in 2u32..17, abits in 2u32..17, seed in any::<u64>()) {
        let mut s = seed | 1;
        let mut rnd = move |m: i64| { s ^= s << 13; s ^= s >> 7; s ^= s << 17; (s % (2 * m as u64 + 1)) as i64 - m };
        let wm = (1i64 << (wbits - 1)) - 1;
        let am = (1i64 << abits) - 1;
        let x = Array3::from_shape_simple_fn((ci, h, w), || (rnd(am) + am) as i32 / 2);
        let wt = Array4::from_shape_simple_fn((co, ci, k, k), || rnd(wm) as i32);
        let bias = (0..co).map(|_| rnd(1 << 20)).collect();
        let z = (rnd(am).abs() / 2) as i32;
        let q = qconv(wt, bias, stride, z, 3);
        prop_assert_eq!(conv_acc(x.view(), &q), conv_acc_naive(x.view(), &q));
    }

    /// Requantization and the SiLU table follow the written rule.
    #[test]
    fn conv_output_follows_rule(acc in prop::collection::vec(-(1i64 << 30)..(1i64 << 30), 1..40), shift in -3i32..20, zero in 0i32..255) {
        let out = QFormat::pow2(8, 3, zero);
        let a = Array3::from_shape_vec((1, 1, acc.len()), acc.clone()).unwrap();
        let q = qconv(Array4::zeros((1, 1, 1, 1)), vec![0], 1, 0, shift);
        let y = conv_output(&a, &q, &out);
        for (v, &r) in acc.iter().zip(y.iter()) {
            let want = if shift > 0 { ((*v as f64) / (1i64 << shift) as f64 + 0.5).floor() } else { (*v as f64) * (1i64 << -shift) as f64 };
            let want = (want + zero as f64).clamp(0.0, 255.0) as i32;
            prop_assert_eq!(r, want);
            prop_assert_eq!(r, requant(*v, 1, shift, &out));
        }
    }
}

/// With 16-bit weights, activations and tables, every module output of the integer model
/// stays close to the float model (relative to the tensor's range).
#[test]
fn int16_tracks_float_per_layer() {
    let (Some(m), Some(r)) = (
        common::shared("models/yolov8n-coco-fused.safetensors"),
        common::shared("reference/yolov8n-real-fused.bus320.layers.safetensors"),
    ) else {
        return;
    };
    let fg = fuse(&FloatGraph::load(&m).unwrap());
    let r = read_tensors(&r).unwrap();
    let x = r["input"].clone();
    let x: Array3<f32> = x
        .into_shape_with_order((3, 320, 320))
        .unwrap()
        .into_dimensionality::<Ix3>()
        .unwrap();
    let stats = calibrate::calibrate(&fg, 1, &|_| Ok(x.clone()), &|_| {}).unwrap();
    let cfg = QuantConfig {
        wbits: 16,
        abits: 16,
        lut_bits: 16,
        head_bits: 16,
        qnms: false,
        ..Default::default()
    };
    let q = quantize::quantize(&fg, &stats, &cfg).unwrap();
    let f = run(fg.graph(), &x, true);
    let nms = NmsParams {
        conf: 0.25,
        iou: 0.7,
        max_det: 300,
        multi_label: false,
    };
    let iq = int_forward(&q, &x, true, nms);
    for (idx, node) in &fg.graph().modules {
        let fv = f.values[*node].as_ref().unwrap();
        let Some(Value::Int(codes)) = iq.values[*node].as_ref() else {
            panic!("int value")
        };
        let fmt = q.nodes[*node].fmt.unwrap();
        let scale = fv.iter().fold(0f32, |m, v| m.max(v.abs()));
        let err = codes
            .iter()
            .zip(fv.iter())
            .fold(0f32, |m, (&c, &v)| m.max((fmt.dequant(c) - v).abs()));
        assert!(
            err / scale < 2e-2,
            "model.{idx}: int16 max error {err} vs range {scale}"
        );
    }
}

/// Saving and loading a quantized model gives back the same model (same files again, same outputs).
#[test]
fn store_round_trip() {
    let (Some(m), Some(r)) = (
        common::shared("models/yolov8n-coco-fused.safetensors"),
        common::shared("reference/yolov8n-real-fused.bus320.layers.safetensors"),
    ) else {
        return;
    };
    use yoloq_gen::quant::store;
    let fg = fuse(&FloatGraph::load(&m).unwrap());
    let r = read_tensors(&r).unwrap();
    let x: Array3<f32> = r["input"]
        .clone()
        .into_shape_with_order((3, 320, 320))
        .unwrap()
        .into_dimensionality::<Ix3>()
        .unwrap();
    let stats = calibrate::calibrate(&fg, 1, &|_| Ok(x.clone()), &|_| {}).unwrap();
    for head in [
        yoloq_gen::quant::HeadMode::Int,
        yoloq_gen::quant::HeadMode::Float,
    ] {
        let cfg = QuantConfig {
            head,
            qnms: head == yoloq_gen::quant::HeadMode::Int,
            ..Default::default()
        };
        let q = quantize::quantize(&fg, &stats, &cfg).unwrap();
        let dir = tempfile::tempdir().unwrap();
        store::save(&q, dir.path()).unwrap();
        let q2 = store::load(dir.path()).unwrap();
        assert_eq!(store::encode(&q).unwrap(), store::encode(&q2).unwrap());
        let nms = NmsParams {
            conf: 0.25,
            iou: 0.7,
            max_det: 300,
            multi_label: false,
        };
        let a = int_forward(&q, &x, false, nms);
        let b = int_forward(&q2, &x, false, nms);
        match (a.head, b.head) {
            (
                yoloq_gen::quant::int_model::HeadOut::Detections(a),
                yoloq_gen::quant::int_model::HeadOut::Detections(b),
            ) => {
                assert!(!a.is_empty());
                assert_eq!(a, b)
            }
            (
                yoloq_gen::quant::int_model::HeadOut::Decoded(a),
                yoloq_gen::quant::int_model::HeadOut::Decoded(b),
            ) => assert_eq!(a, b),
            _ => panic!("head kinds differ"),
        }
        // A missing weights file is reported by name.
        std::fs::remove_file(dir.path().join(store::WEIGHTS_FILE)).unwrap();
        let e = store::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("quant.safetensors"), "{e}");
    }
}
