//! What the commands share: every default (defined once, used by the main job and the
//! subcommands alike), the value parsers that refuse bad numbers while the command line is
//! read, and the data folders looked up in `$YOLOQ_DATA_DIR`.

use std::path::{Path, PathBuf};
use yoloq_gen::Error;

pub use yoloq_gen::defaults;

/// An option struct with every field at its flag's default: what the subcommand gets from an
/// empty command line. Option structs implement [`Default`] with this, so their defaults are
/// the flags' and are written once.
pub fn clap_defaults<T: clap::Args + clap::FromArgMatches>() -> T {
    let cmd = T::augment_args(clap::Command::new("defaults").no_binary_name(true));
    let m = cmd
        .try_get_matches_from(std::iter::empty::<String>())
        .expect("every option of an option struct has a default");
    T::from_arg_matches(&m).expect("defaults convert")
}

fn shared(rel: &str) -> Option<PathBuf> {
    yoloq_gen::util::data_dir()
        .map(|d| d.join(rel))
        .filter(|p| p.exists())
}

/// `given`, else `$YOLOQ_DATA_DIR/<rel>`, else an error saying where to get it.
fn data_or(given: Option<&Path>, rel: &str, flag: &str, what: &str) -> Result<PathBuf, Error> {
    if let Some(p) = given {
        if !p.exists() {
            return Err(Error::arg(
                flag,
                format!("{} does not exist; pass {what}", p.display()),
            ));
        }
        return Ok(p.to_path_buf());
    }
    shared(rel).ok_or_else(|| {
        Error::arg(
            flag,
            format!(
                "not given and $YOLOQ_DATA_DIR/{rel} not found; pass {what} with {flag}, or set YOLOQ_DATA_DIR to the shared data folder (models/, data/coco128, data/val2017-79)"
            ),
        )
    })
}

/// A checkpoint given with `--model`: it must be a file (its contents are read later).
pub fn model_file(path: &Path) -> Result<(), Error> {
    if path.is_file() {
        return Ok(());
    }
    Err(Error::arg(
        "--model",
        format!(
            "{} {}; pass a checkpoint (.pt or .safetensors)",
            path.display(),
            if path.exists() {
                "is not a file"
            } else {
                "does not exist"
            }
        ),
    ))
}

/// The calibration images folder: `--calib`, else the shared coco128 images.
pub fn calib_dir(given: Option<&Path>) -> Result<PathBuf, Error> {
    data_or(
        given,
        defaults::CALIB_DATA,
        "--calib",
        "a folder of calibration images (e.g. coco128/images)",
    )
}

/// The validation dataset: `--data`, else the shared val2017-79.
pub fn val_data(given: Option<&Path>) -> Result<PathBuf, Error> {
    data_or(
        given,
        defaults::VAL_DATA,
        "--data",
        "a dataset (COCO json, YOLO .yaml or a folder)",
    )
}

/// The shared sample image (`$YOLOQ_DATA_DIR/data/samples/bus.jpg`) if present.
pub fn shared_sample() -> Option<PathBuf> {
    shared(defaults::SAMPLE_IMAGE)
}

/// The golden-vector image of `quantize` and the main job: the shared bus.jpg, else the
/// first readable calibration image.
pub fn sample_image(calib: &Path) -> Result<PathBuf, Error> {
    match shared_sample() {
        Some(p) => Ok(p),
        None => first_readable(calib),
    }
}

/// The first calibration image that decodes (the error of the first one when none does).
pub fn first_readable(calib: &Path) -> Result<PathBuf, Error> {
    let mut first_err = None;
    for p in yoloq_gen::quant::run::list_images(calib)? {
        match yoloq_gen::image_io::load_rgb(&p) {
            Ok(_) => return Ok(p),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    Err(first_err.unwrap_or_else(|| {
        Error::arg(
            "--calib",
            format!("{} holds no .jpg/.png images", calib.display()),
        )
    }))
}

/// A count of at least 1.
pub fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(v) => Ok(v),
        Err(e) => Err(format!("{e}; use a whole number of at least 1")),
    }
}

/// A score threshold: a number from 0 to 1.
pub fn score(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        Ok(_) => Err("use a number from 0 to 1".into()),
        Err(e) => Err(format!("{e}; use a number from 0 to 1")),
    }
}

/// An IoU threshold: a number above 0, at most 1.
pub fn iou(s: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(v) if v > 0.0 && v <= 1.0 => Ok(v),
        Ok(_) => Err("use a number above 0 and at most 1".into()),
        Err(e) => Err(format!("{e}; use a number above 0 and at most 1")),
    }
}

/// A board: a name from `boards/*.yaml` (built in) or a board .yaml file.
#[derive(Clone, Debug, PartialEq)]
pub struct Board(pub String);

/// `--board`, one definition for the main job and `synth`.
#[derive(clap::Args, Clone, Debug, PartialEq)]
pub struct BoardOpt {
    #[arg(long, default_value = defaults::BOARD, value_parser = board, help = board_help())]
    pub board: Board,
}

pub fn board(s: &str) -> Result<Board, String> {
    let known = yoloq_gen::rtl::synth::BOARDS.iter().any(|b| b.0 == s);
    if known || (s.ends_with(".yaml") && Path::new(s).is_file()) {
        Ok(Board(s.to_string()))
    } else {
        Err(format!(
            "unknown board; use {} or a board .yaml file",
            board_names()
        ))
    }
}

/// The built-in board names, comma separated.
pub fn board_names() -> String {
    let v: Vec<&str> = yoloq_gen::rtl::synth::BOARDS.iter().map(|b| b.0).collect();
    v.join(", ")
}

/// Help line of `--board`.
pub fn board_help() -> String {
    format!("Target board: {} or a board .yaml file", board_names())
}

/// A simulator.
#[derive(Copy, Clone, Debug, PartialEq, clap::ValueEnum)]
pub enum SimulatorArg {
    Verilator,
    #[value(alias = "iverilog")]
    Icarus,
}

impl SimulatorArg {
    pub fn name(self) -> &'static str {
        match self {
            SimulatorArg::Verilator => "verilator",
            SimulatorArg::Icarus => "icarus",
        }
    }
}
