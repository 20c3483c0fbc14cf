//! `yoloq-gen board run`: the host program of a folded board. Letterboxes each image to the
//! design's input, sends it over the UART, waits for the frame and prints (and with `--save`
//! draws) the detections the board's integer NMS stage wrote, in original-image pixels.
//! `--port sim` runs the same protocol against the design's simulated board.

use super::predict::{print_text, rounded};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use yoloq_gen::rtl::folded::host::{self, Host};
use yoloq_gen::rtl::manifest::read_manifest;
use yoloq_gen::util::outdir;
use yoloq_gen::{draw, image_io, postprocess, preprocess, quant, validate, Error};

#[derive(Args, Debug)]
pub struct BoardCmd {
    #[command(subcommand)]
    pub cmd: BoardSub,
}

#[derive(Subcommand, Debug)]
pub enum BoardSub {
    /// Run images through a board (or its simulation) and print the detections.
    Run(RunArgs),
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// The folded design the board was built from (`yoloq-gen emit --arch folded`).
    #[arg(long)]
    pub design: PathBuf,
    /// Serial port of the board's UART (iCEBreaker: the FT2232H's second channel, usually
    /// /dev/ttyUSB1), or `sim` for the design's simulated board (Verilator).
    #[arg(long)]
    pub port: String,
    /// Write annotated PNGs into this folder (new, empty, or written by yoloq-gen before).
    #[arg(long)]
    pub save: Option<PathBuf>,
    /// Save into a non-empty folder that yoloq-gen did not write (only its own files are replaced).
    #[arg(long)]
    pub force: bool,
    /// Images (JPEG or PNG).
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
}

pub fn run(c: BoardCmd) -> anyhow::Result<()> {
    match c.cmd {
        BoardSub::Run(a) => run_images(a),
    }
}

fn run_images(a: RunArgs) -> anyhow::Result<()> {
    let m = read_manifest(&a.design)?;
    let info = m.host.clone().ok_or_else(|| {
        Error::arg(
            "--design",
            format!(
                "{} is not a board design; emit one with `yoloq-gen emit --arch folded`",
                a.design.display()
            ),
        )
    })?;
    if info.det_base.is_none() {
        return Err(Error::arg(
            "--design",
            "this design has no integer NMS stage; quantize with --qnms and emit again",
        )
        .into());
    }
    if let Some(dir) = &a.save {
        outdir::check(dir, "--save", a.force)?;
    }
    // Read every image before touching the board: a bad file fails up front.
    let mut images = Vec::with_capacity(a.images.len());
    for p in &a.images {
        images.push((p, image_io::load_rgb(p)?));
    }
    let [h, w] = m.imgsz;
    if 3 * h * w != info.input_bytes {
        return Err(Error::data(
            a.design.join("manifest.json"),
            format!(
                "input of {} bytes does not match {h}x{w} RGB; emit the design again",
                info.input_bytes
            ),
        )
        .into());
    }
    let port = if a.port == "sim" {
        host::start_sim(&a.design, &m)?
    } else {
        host::open_serial(&a.port, info.baud)?
    };
    let mut board = Host::new(port, &a.port);
    board.ping()?;
    let staging = match &a.save {
        Some(dir) => Some(outdir::Staging::begin(dir, "board run")?),
        None => None,
    };
    for (path, mut img) in images {
        // the hardware's input: the square letterbox of `emit --image`, codes as the
        // integer model's input rule
        let lb = preprocess::letterbox(&img, (h, w), false, 32);
        let codes: Vec<u8> = quant::int_model::input_codes(&lb.tensor, 0)
            .iter()
            .map(|&c| c as u8)
            .collect();
        let cycles = board.frame(&codes, &info)?;
        let recs = board.detections(&info)?;
        let mut dets = validate::int_dets(&recs);
        postprocess::scale_boxes(&mut dets, lb.input_hw(), lb.orig_hw);
        let key = path.display().to_string();
        print_text(&key, &rounded(&dets, &info.class_names));
        eprintln!("{key}: frame of {cycles} cycles on the board");
        if let Some(st) = &staging {
            let labelled: Vec<_> = dets
                .iter()
                .map(|d| {
                    let name = info.class_names.get(d.cls).cloned().unwrap_or_default();
                    (*d, format!("{name} {:.2}", d.conf))
                })
                .collect();
            draw::annotate(&mut img, &labelled);
            let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("image");
            image_io::save_png(&st.path().join(format!("{stem}.png")), &img)?;
        }
    }
    if let (Some(st), Some(dir)) = (staging, &a.save) {
        st.commit()?;
        eprintln!("annotated images in {}", dir.display());
    }
    Ok(())
}
