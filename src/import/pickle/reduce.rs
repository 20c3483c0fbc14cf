//! Structural meaning of REDUCE / NEWOBJ / BUILD for the few callables torch checkpoints
//! need; every other call is recorded as an inert object.
//!
//! Guarantees: no callable is ever looked up or run. Known constructors become plain data
//! (tensor views, dicts, sets, bytes); unknown ones become [`Node::Object`] records.

use super::arena::{Arena, Id, Node};
use super::{TensorRef, Value};

/// Interpret `func(*args, **kwargs)` (REDUCE, NEWOBJ, NEWOBJ_EX); returns the result id.
pub(super) fn call(
    arena: &mut Arena,
    func: Id,
    args: Id,
    kwargs: Option<Id>,
) -> Result<Id, String> {
    call_nested(arena, func, args, kwargs, 0)
}

fn call_nested(
    arena: &mut Arena,
    func: Id,
    args: Id,
    kwargs: Option<Id>,
    depth: u32,
) -> Result<Id, String> {
    let Node::Tuple(a) = arena.get(args) else {
        return Err("call arguments are not a tuple".into());
    };
    let a = a.clone();
    let kw = match kwargs.map(|k| arena.get(k)) {
        None => Vec::new(),
        Some(Node::Dict(p)) => p.clone(),
        Some(_) => return Err("NEWOBJ_EX keyword arguments are not a dict".into()),
    };
    let (module, name) = match arena.get(func) {
        Node::Leaf(Value::Global { module, name }) => (module.as_str(), name.as_str()),
        _ => ("", ""),
    };
    let builtin = matches!(module, "builtins" | "__builtin__");
    let node = match (module, name) {
        ("torch._utils", "_rebuild_tensor_v2" | "_rebuild_tensor") => tensor(arena, &a)?,
        ("torch._utils", "_rebuild_parameter" | "_rebuild_parameter_with_state") => {
            match a.first() {
                Some(&t) if matches!(arena.get(t), Node::Tensor(_)) => return Ok(t),
                _ => object(func, a, kw),
            }
        }
        ("torch._tensor", "_rebuild_from_type_v2") => match a.as_slice() {
            [f, _ty, inner, _state] if depth < 2 => {
                return call_nested(arena, *f, *inner, None, depth + 1)
            }
            _ => object(func, a, kw),
        },
        ("collections", "OrderedDict" | "defaultdict") | ("builtins" | "__builtin__", "dict") => {
            let pairs = match (name, a.first()) {
                ("defaultdict", _) | (_, None) => Some(Vec::new()),
                (_, Some(&items)) => dict_pairs(arena, items),
            };
            match pairs {
                Some(p) => Node::Dict(p),
                None => object(func, a, kw),
            }
        }
        (_, "set" | "frozenset") if builtin => match a.first().map(|&i| arena.get(i)) {
            None => Node::Set(Vec::new()),
            Some(Node::List(v) | Node::Tuple(v) | Node::Set(v)) => Node::Set(v.clone()),
            Some(_) => object(func, a, kw),
        },
        (_, "getattr") if builtin => match method(arena, &a) {
            Some(m) => Node::Leaf(m),
            None => object(func, a, kw),
        },
        ("_codecs", "encode") => match latin1(arena, &a) {
            Some(b) => Node::Leaf(Value::Bytes(b)),
            None => object(func, a, kw),
        },
        _ => object(func, a, kw),
    };
    Ok(arena.push(node))
}

/// BUILD: attach `state` to an object record (a second dict state updates the first, as
/// `__dict__.update` would). State on tensors and containers (hooks, an `OrderedDict`'s
/// `_metadata`) carries nothing we use and is dropped.
pub(super) fn build(arena: &mut Arena, target: Id, state: Id) {
    let new_pairs = match arena.get(state) {
        Node::Dict(p) => Some(p.clone()),
        _ => None,
    };
    let Node::Object { state: slot, .. } = arena.get_mut(target) else {
        return;
    };
    let old = slot.replace(state);
    if let (Some(old), Some(pairs)) = (old, new_pairs) {
        if let Node::Dict(p) = arena.get_mut(old) {
            p.extend(pairs);
            if let Node::Object { state: slot, .. } = arena.get_mut(target) {
                *slot = Some(old);
            }
        }
    }
}

fn object(class: Id, args: Vec<Id>, kwargs: Vec<(Id, Id)>) -> Node {
    Node::Object {
        class,
        args,
        kwargs,
        state: None,
        items: Vec::new(),
    }
}

/// `_rebuild_tensor_v2(storage, offset, size, stride, ...)` as a view record.
fn tensor(arena: &Arena, a: &[Id]) -> Result<Node, String> {
    let bad = |what: &str| format!("malformed tensor record: {what}");
    let [storage, offset, size, stride, ..] = a else {
        return Err(bad("fewer than 4 arguments"));
    };
    let Node::Storage {
        key, dtype, numel, ..
    } = arena.get(*storage)
    else {
        return Err(bad("first argument is not a storage record"));
    };
    let offset = match arena.get(*offset) {
        Node::Leaf(Value::Int(i)) => u64::try_from(*i).map_err(|_| bad("negative offset"))?,
        _ => return Err(bad("offset is not an integer")),
    };
    let shape = uints(arena, *size).ok_or_else(|| bad("size is not a tuple of integers >= 0"))?;
    let stride =
        uints(arena, *stride).ok_or_else(|| bad("stride is not a tuple of integers >= 0"))?;
    if shape.len() != stride.len() {
        return Err(bad("size and stride have different lengths"));
    }
    Ok(Node::Tensor(TensorRef {
        storage_key: key.clone(),
        dtype: dtype.clone(),
        numel: *numel,
        offset,
        shape,
        stride,
    }))
}

fn uints(arena: &Arena, id: Id) -> Option<Vec<u64>> {
    let (Node::Tuple(v) | Node::List(v)) = arena.get(id) else {
        return None;
    };
    v.iter()
        .map(|&i| match arena.get(i) {
            Node::Leaf(Value::Int(n)) => u64::try_from(*n).ok(),
            _ => None,
        })
        .collect()
}

/// Items of `OrderedDict([(k, v), ...])` / `dict(...)`.
fn dict_pairs(arena: &Arena, items: Id) -> Option<Vec<(Id, Id)>> {
    match arena.get(items) {
        Node::Dict(p) => Some(p.clone()),
        Node::List(v) | Node::Tuple(v) => v
            .iter()
            .map(|&i| match arena.get(i) {
                Node::Tuple(kv) | Node::List(kv) if kv.len() == 2 => Some((kv[0], kv[1])),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

/// Modules whose classes may hold method references (`getattr(self, 'forward_fuse')`).
const METHOD_MODULES: [&str; 2] = ["torch.", "ultralytics."];

/// `getattr(obj, name)` where `obj` is an object record of an allowed class and `name` an
/// identifier: the inert method reference. The object itself is not referenced, so an object
/// whose `__dict__` holds its own bound method expands without a cycle.
fn method(arena: &Arena, a: &[Id]) -> Option<Value> {
    let [obj, name] = a else { return None };
    let Node::Object { class, .. } = arena.get(*obj) else {
        return None;
    };
    let Node::Leaf(class @ Value::Global { module, .. }) = arena.get(*class) else {
        return None;
    };
    let Node::Leaf(Value::Str(name)) = arena.get(*name) else {
        return None;
    };
    let ident = !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let allowed = METHOD_MODULES.iter().any(|m| module.starts_with(m));
    (ident && allowed).then(|| Value::Method {
        class: Box::new(class.clone()),
        name: name.clone(),
    })
}

/// `_codecs.encode(text, 'latin1')`: how protocol 2 stores Python 3 `bytes`.
fn latin1(arena: &Arena, a: &[Id]) -> Option<Vec<u8>> {
    let [text, enc] = a else { return None };
    let (Node::Leaf(Value::Str(t)), Node::Leaf(Value::Str(e))) =
        (arena.get(*text), arena.get(*enc))
    else {
        return None;
    };
    match e.as_str() {
        "latin1" | "latin-1" | "iso-8859-1" => t.chars().map(|c| u8::try_from(c).ok()).collect(),
        "utf-8" | "utf8" => Some(t.as_bytes().to_vec()),
        _ => None,
    }
}
