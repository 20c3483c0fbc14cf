//! Every default of the command line, defined once: the subcommands' flags take their
//! defaults from here (clap `default_value_t`), the main job's stages take the same values
//! through the stages' option structs, and the library uses them where it needs a value the
//! user would otherwise pass (the golden vectors' NMS options, for one).
//!
//! Quantization defaults are [`QuantConfig::default`](crate::quant::QuantConfig) (the
//! `quantize` flags take theirs from it).

use crate::quant::int_model::NmsParams;
use crate::rtl::Arch;

/// Calibration and validation input size.
pub const IMGSZ: usize = 640;
/// Calibration images (the first K by name).
pub const CALIB_IMAGES: usize = 64;
/// Input size of the golden activations written by `quantize`.
pub const SAMPLE_IMGSZ: usize = 160;
/// Input size of the generated layer-sequential hardware.
pub const HW_IMGSZ: usize = 64;
/// Input size of the generated folded hardware: the YOLOv8n design placed on the UP5K.
pub const FOLDED_HW_IMGSZ: usize = 128;
/// MAC lanes per convolution layer of the layer-sequential engine.
pub const PARALLEL: usize = 8;
/// Target board (of the main job and `synth`).
pub const BOARD: &str = "ice40";
/// Validation: score threshold, NMS IoU, detections per image (Ultralytics' `val`).
pub const VAL_CONF: f32 = 0.001;
pub const IOU: f32 = 0.7;
pub const MAX_DET: usize = 300;
/// Prediction score threshold (Ultralytics' `predict`).
pub const PREDICT_CONF: f32 = 0.25;
/// Under `$YOLOQ_DATA_DIR`: calibration images, validation set, golden-vector image.
pub const CALIB_DATA: &str = "data/coco128/images";
pub const VAL_DATA: &str = "data/val2017-79";
pub const SAMPLE_IMAGE: &str = "data/samples/bus.jpg";

/// The generated hardware's input size when none is given: the size each architecture's
/// design is documented and tested at.
pub const fn hw_imgsz(arch: Arch) -> usize {
    match arch {
        Arch::Folded => FOLDED_HW_IMGSZ,
        Arch::Layerseq => HW_IMGSZ,
    }
}

/// Ultralytics' prediction options (score 0.25, IoU 0.7, 300 boxes, one label per box):
/// `predict`, `bench --quant`, the golden vectors and the hardware NMS stage use them.
pub const PREDICT_NMS: NmsParams = NmsParams {
    conf: PREDICT_CONF,
    iou: IOU,
    max_det: MAX_DET,
    multi_label: false,
};
