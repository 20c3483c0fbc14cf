//! The sweep's configurations: the standard variant list, display names and the
//! bias-correction / mixed-width variants. Guarantees: [`dedup`] leaves no two identical
//! configurations; names are derived from the configuration alone.

use crate::quant::budget::WeightBudget;
use crate::quant::{CalibMethod, Granularity, HeadMode, QuantConfig, Rounding, ScaleMode};

/// One configuration of the sweep and its display name.
#[derive(Clone, Debug, PartialEq)]
pub struct Variant {
    pub name: String,
    pub config: QuantConfig,
}

/// A configuration with 8-bit activations (tables and head logits at 8 bits too).
pub fn variant(
    wbits: u32,
    scale: ScaleMode,
    granularity: Granularity,
    head: HeadMode,
    qnms: bool,
    method: CalibMethod,
) -> Variant {
    let config = QuantConfig {
        wbits,
        abits: 8,
        lut_bits: 8,
        head_bits: 8,
        method,
        granularity,
        scale,
        head,
        qnms,
        bias_correct: false,
        ..QuantConfig::default()
    };
    Variant {
        name: variant_name(&config),
        config,
    }
}

/// The same variant with bias correction, and with the layers `keep8` at 8-bit weights.
pub fn corrected(v: Variant, keep8: &[&str]) -> Variant {
    let config = QuantConfig {
        bias_correct: true,
        keep8: keep8.iter().map(|s| s.to_string()).collect(),
        ..v.config
    };
    Variant {
        name: variant_name(&config),
        config,
    }
}

/// The same variant with GPTQ rounding.
pub fn gptq(v: Variant) -> Variant {
    let config = QuantConfig {
        rounding: Rounding::Gptq,
        ..v.config
    };
    Variant {
        name: variant_name(&config),
        config,
    }
}

/// The same variant with refined GPTQ rounding (`--rounding gptq-refine`).
pub fn refined(v: Variant) -> Variant {
    let config = QuantConfig {
        rounding: Rounding::GptqRefine,
        ..v.config
    };
    Variant {
        name: variant_name(&config),
        config,
    }
}

/// The same variant with `abits`-bit activations between layers; the SiLU table index, the
/// input image and the head logits keep 8 bits (the `quantize` defaults below 8 bits).
pub fn activations(v: Variant, abits: u32) -> Variant {
    let config = QuantConfig {
        abits,
        input_bits: (abits < 8).then_some(8),
        ..v.config
    };
    Variant {
        name: variant_name(&config),
        config,
    }
}

/// The same variant with each layer's width chosen for an average of `avg` bits per weight
/// (GPTQ rounding).
pub fn budget(v: Variant, avg: f64) -> Variant {
    let config = QuantConfig {
        wbits: (avg.floor() as u32).clamp(2, 8),
        wbudget: Some(WeightBudget::Average(avg)),
        rounding: Rounding::Gptq,
        ..v.config
    };
    Variant {
        name: variant_name(&config),
        config,
    }
}

/// `W8A8 pow2/channel int+qnms`-style name (`W4.5A8` for an average budget), with ` +bc` (bias correction),
/// ` keep8=first,head` and ` gptq` suffixes when those options are on.
pub fn variant_name(c: &QuantConfig) -> String {
    format!(
        "W{}A{} {}/{} {}{}",
        c.wbudget.map_or(c.wbits.to_string(), |b| b.to_string()),
        c.abits,
        scale_str(c.scale),
        gran_str(c.granularity),
        head_str(c),
        extras_str(c)
    )
}

fn extras_str(c: &QuantConfig) -> String {
    let mut s = String::new();
    if c.bias_correct {
        s.push_str(" +bc");
    }
    if !c.keep8.is_empty() {
        s.push_str(&format!(" keep8={}", c.keep8.join(",")));
    }
    match c.rounding {
        Rounding::Gptq => s.push_str(" gptq"),
        Rounding::GptqRefine => s.push_str(" gptq-refine"),
        Rounding::Nearest => {}
    }
    s
}

pub(super) fn scale_str(s: ScaleMode) -> &'static str {
    match s {
        ScaleMode::Pow2 => "pow2",
        ScaleMode::Mult => "mult",
    }
}

pub(super) fn gran_str(g: Granularity) -> &'static str {
    match g {
        Granularity::Channel => "channel",
        Granularity::Tensor => "tensor",
    }
}

fn head_str(c: &QuantConfig) -> &'static str {
    match (c.head, c.qnms) {
        (HeadMode::Float, _) => "float-head",
        (HeadMode::Int, true) => "int+qnms",
        (HeadMode::Int, false) => "int",
    }
}

/// Remove later variants whose configuration equals an earlier one (order kept).
pub fn dedup(vs: Vec<Variant>) -> Vec<Variant> {
    let mut out: Vec<Variant> = Vec::with_capacity(vs.len());
    for v in vs {
        if !out.iter().any(|o| o.config == v.config) {
            out.push(v);
        }
    }
    out
}

/// The standard sweep: weights 8/6/4 bits × {pow2/channel, mult/channel, pow2/tensor} with
/// the integer head and quantized NMS; plus W8A8 and W6A8 with the head in float, and W8A8
/// with the integer head but the float NMS; then bias correction on pow2/channel (8/6/4 bits),
/// W6 pow2 with the first and head convolutions at 8 bits, and W6 mult; then GPTQ rounding
/// (bias-corrected pow2/channel) at W4 with the first and head convolutions at 8 bits, W6 and
/// W8; then activations below 8 bits (SiLU table index, input and head at 8 bits): W8A6 and
/// W6A6 bias-corrected, W4A4 bias-corrected with GPTQ; then mixed widths for an average of
/// 4.5 bits per weight (bias-corrected, GPTQ). Activations are 8 bits elsewhere.
pub fn standard_variants(method: CalibMethod) -> Vec<Variant> {
    use Granularity::*;
    use HeadMode::*;
    use ScaleMode::*;
    let mut v = Vec::new();
    for (scale, gran) in [(Pow2, Channel), (Mult, Channel), (Pow2, Tensor)] {
        for wbits in [8, 6, 4] {
            v.push(variant(wbits, scale, gran, Int, true, method));
        }
    }
    v.push(variant(8, Pow2, Channel, Int, false, method));
    v.push(variant(8, Pow2, Channel, Float, false, method));
    v.push(variant(6, Pow2, Channel, Float, false, method));
    for wbits in [8, 6, 4] {
        v.push(corrected(
            variant(wbits, Pow2, Channel, Int, true, method),
            &[],
        ));
    }
    let w6 = variant(6, Pow2, Channel, Int, true, method);
    v.push(corrected(w6, &["first", "head"]));
    v.push(corrected(variant(6, Mult, Channel, Int, true, method), &[]));
    let pow2 = |w| variant(w, Pow2, Channel, Int, true, method);
    v.push(gptq(corrected(pow2(4), &["first", "head"])));
    v.push(gptq(corrected(pow2(6), &[])));
    v.push(gptq(corrected(pow2(8), &[])));
    v.push(activations(corrected(pow2(8), &[]), 6));
    v.push(activations(corrected(pow2(6), &[]), 6));
    v.push(gptq(activations(corrected(pow2(4), &[]), 4)));
    v.push(budget(corrected(pow2(4), &[]), 4.5));
    v.push(refined(corrected(pow2(6), &[])));
    v.push(refined(corrected(pow2(4), &["first", "head"])));
    dedup(v)
}
