//! Finding the model inside a decoded checkpoint and naming its tensors.
//!
//! Guarantees: a pickled `nn.Module` tree is walked the way `Module.state_dict()` walks it
//! (`_parameters`, persistent `_buffers`, then `_modules` children, names joined by '.'),
//! so `model.0.conv.weight`, `model.0.bn.running_mean`, `model.22.dfl.conv.weight` come out
//! exactly as torch would name them; missing or odd attributes are skipped, never fatal.

use crate::import::pickle::{Object, TensorRef, Value};
use crate::import::CheckpointFormat;
use std::collections::BTreeMap;

/// What was found in the pickle, before the storages are read.
pub(super) struct Found<'v> {
    pub format: CheckpointFormat,
    pub tensors: Vec<(String, &'v TensorRef)>,
    pub bn_eps: BTreeMap<String, f32>,
    pub class_names: Option<Vec<String>>,
    /// The model's `stride` attribute (a tensor or a list), if any.
    pub strides: Option<&'v Value>,
}

/// Locate the model: an Ultralytics dict (`ema` if it holds a module, else `model`), a
/// pickled module, or a state dict (possibly under `state_dict` / `model`).
pub(super) fn find_model(root: &Value) -> Option<Found<'_>> {
    fn module(v: &Value) -> Option<&Object> {
        v.as_object().filter(|o| o.attr("_modules").is_some())
    }
    let top = ["ema", "model"]
        .iter()
        .find_map(|k| root.get(k).and_then(module))
        .or_else(|| module(root));
    if let Some(m) = top {
        return Some(from_module(m));
    }
    [Some(root), root.get("state_dict"), root.get("model")]
        .into_iter()
        .flatten()
        .find_map(state_dict)
}

fn from_module(m: &Object) -> Found<'_> {
    let mut found = Found {
        format: CheckpointFormat::UltralyticsPt,
        tensors: Vec::new(),
        bn_eps: BTreeMap::new(),
        class_names: m.attr("names").and_then(class_names),
        strides: m.attr("stride"),
    };
    walk(m, "", &mut found);
    found
}

/// Add `m`'s parameters and persistent buffers, then its children's, under `prefix`.
fn walk<'v>(m: &'v Object, prefix: &str, found: &mut Found<'v>) {
    let join = |name: &str| {
        if prefix.is_empty() {
            name.to_string()
        } else {
            format!("{prefix}.{name}")
        }
    };
    let skip: Vec<&str> = match m.attr("_non_persistent_buffers_set") {
        Some(Value::Set(v) | Value::List(v)) => v.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    for key in ["_parameters", "_buffers"] {
        let Some(Value::Dict(pairs)) = m.attr(key) else {
            continue;
        };
        for (k, v) in pairs {
            if let (Some(name), Value::TorchTensor(t)) = (k.as_str(), v) {
                if key == "_parameters" || !skip.contains(&name) {
                    found.tensors.push((join(name), t));
                }
            }
        }
    }
    if m.class_name()
        .is_some_and(|(_, n)| n.starts_with("BatchNorm"))
    {
        if let Some(eps) = m.attr("eps").and_then(Value::as_f64) {
            found.bn_eps.insert(prefix.to_string(), eps as f32);
        }
    }
    if let Some(Value::Dict(children)) = m.attr("_modules") {
        for (k, v) in children {
            if let (Some(name), Some(child)) = (k.as_str(), v.as_object()) {
                walk(child, &join(name), found);
            }
        }
    }
}

/// A dict whose values are all tensors (at least one) as a state dict.
fn state_dict(v: &Value) -> Option<Found<'_>> {
    let Value::Dict(pairs) = v else { return None };
    let tensors: Option<Vec<(String, &TensorRef)>> = pairs
        .iter()
        .map(|(k, v)| match (k.as_str(), v) {
            (Some(name), Value::TorchTensor(t)) => Some((name.to_string(), &**t)),
            _ => None,
        })
        .collect();
    let tensors = tensors.filter(|t| !t.is_empty())?;
    Some(Found {
        format: CheckpointFormat::StateDictPt,
        tensors,
        bn_eps: BTreeMap::new(),
        class_names: None,
        strides: None,
    })
}

/// Class names from `{0: 'person', ...}` or `['person', ...]`, in index order.
fn class_names(v: &Value) -> Option<Vec<String>> {
    match v {
        Value::List(items) | Value::Tuple(items) => items
            .iter()
            .map(|s| s.as_str().map(str::to_string))
            .collect(),
        Value::Dict(pairs) => {
            let mut named: Vec<(usize, String)> = pairs
                .iter()
                .map(|(k, s)| Some((usize::try_from(k.as_int()?).ok()?, s.as_str()?.to_string())))
                .collect::<Option<_>>()?;
            named.sort_by_key(|(i, _)| *i);
            // Indices must be exactly 0..n, otherwise the mapping is not a class list.
            let ok = named.iter().enumerate().all(|(pos, (i, _))| pos == *i);
            ok.then(|| named.into_iter().map(|(_, s)| s).collect())
        }
        _ => None,
    }
}
