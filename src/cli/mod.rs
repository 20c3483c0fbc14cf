//! Command-line interface: clap definitions and dispatch.

mod args;
mod bench;
mod board;
mod emit;
mod import;
mod pipeline;
mod predict;
mod quantize;
mod sim;
mod sweep;
mod synth;
mod val;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// yoloq-gen: YOLOv8 checkpoint → quantized integer model → synthesizable Verilog.
///
/// Without a subcommand, runs the whole pipeline (import, fuse, validate, quantize, emit RTL,
/// simulate, synthesize) for one bit width and board, e.g. `yoloq-gen --bits 8 --board ice40`.
#[derive(Parser, Debug)]
#[command(name = "yoloq-gen", version, about, long_about = None, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Option<Cmd>,
    #[command(flatten)]
    pub main: pipeline::PipelineArgs,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Import a checkpoint: write original.safetensors, fused.safetensors and architecture.yaml.
    Import(import::ImportArgs),
    /// Detect objects in images (text, JSON or annotated PNGs).
    Predict(predict::PredictArgs),
    /// Calibrate and quantize to N bits; write integer weights, scales, ROM images, golden activations.
    Quantize(quantize::QuantizeCmd),
    /// Validate stages (original, fused, quantized directories) on a COCO or YOLO dataset.
    Val(val::ValArgs),
    /// Score a COCO results file against a COCO ground truth (pycocotools-exact).
    CocoEval(val::CocoEvalArgs),
    /// Time the float forward pass, and the integer model with --quant (median ms per image).
    Bench(bench::BenchArgs),
    /// Write per-layer Verilog, ROM images, testbenches and golden vectors for a quantized model.
    Emit(emit::EmitArgs),
    /// Simulate an emitted design (Icarus or Verilator) and compare every element.
    Sim(sim::SimArgs),
    /// Synthesize an emitted design with Yosys (and nextpnr for ice40); report resources.
    Synth(synth::SynthArgs),
    /// Calibrate once, then quantize and validate 8/6/4-bit variants; table + plot of AP vs bits.
    Sweep(sweep::SweepArgs),
    /// Talk to a board built from a folded design (or its simulation): `board run`.
    Board(board::BoardCmd),
}

/// Where the default model is cached when downloaded.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("YOLOQ_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/yoloq-gen")))
        .unwrap_or_else(|| PathBuf::from(".yoloq-cache"))
}

pub fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.cmd {
        Some(Cmd::Import(a)) => import::run(a),
        Some(Cmd::Bench(a)) => bench::run(a),
        Some(Cmd::Emit(a)) => emit::run(a),
        Some(Cmd::Sim(a)) => sim::run(a),
        Some(Cmd::Synth(a)) => synth::run(a),
        Some(Cmd::Quantize(a)) => quantize::run(a),
        Some(Cmd::Predict(a)) => predict::run(a),
        Some(Cmd::Val(a)) => val::run(a),
        Some(Cmd::CocoEval(a)) => val::coco_eval(a),
        Some(Cmd::Sweep(a)) => sweep::run(a),
        Some(Cmd::Board(a)) => board::run(a),
        None => pipeline::run(cli.main),
    }
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    /// Every flag and positional argument of every command, nested ones included, has a help
    /// line (clap's own --help/--version included).
    #[test]
    fn every_flag_has_help() {
        fn walk(c: &clap::Command, path: &str, missing: &mut Vec<String>, seen: &mut Vec<String>) {
            seen.push(path.to_string());
            for a in c.get_arguments() {
                if a.get_help().is_none() && a.get_long_help().is_none() {
                    missing.push(format!("{path} {}", a.get_id()));
                }
            }
            for sub in c.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), missing, seen);
            }
        }
        let mut cmd = Cli::command();
        cmd.build();
        let (mut missing, mut seen) = (Vec::new(), Vec::new());
        walk(&cmd, "yoloq-gen", &mut missing, &mut seen);
        assert!(missing.is_empty(), "arguments without help: {missing:?}");
        // The walk reached the nested `board run` and the flattened option structs.
        assert!(seen.iter().any(|p| p == "yoloq-gen board run"), "{seen:?}");
        let synth = cmd.find_subcommand("synth").unwrap();
        assert!(synth.get_arguments().any(|a| a.get_id() == "board"));
    }
}
