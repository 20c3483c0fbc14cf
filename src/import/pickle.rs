//! Restricted pickle reader: turns a pickle byte stream (protocols 2–5, as written by
//! `torch.save`) into an inert [`Value`] tree.
//!
//! Guarantees: nothing is ever imported or called. `GLOBAL` references become
//! [`Value::Global`] records; `REDUCE`/`NEWOBJ` on a handful of known callables
//! (`torch._utils._rebuild_tensor_v2`, `_rebuild_parameter`, `collections.OrderedDict`,
//! `builtins.set`, ...) are interpreted structurally, every other call becomes an inert
//! [`Object`] record; `getattr(obj, name)` on an object of an allowed class is an inert
//! [`Value::Method`], and references back to objects under construction become
//! [`Value::Cycle`]. Opcodes outside the supported set are rejected with their name and
//! byte offset. Allocation is bounded by the input length and by fixed limits on the
//! expanded tree (size and nesting), so hostile input yields `Err`, never a panic or an
//! unbounded allocation.

mod arena;
mod opcodes;
mod reduce;
mod vm;

/// A value decoded from a pickle.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    /// An integer that does not fit in `i64`: little-endian two's complement bytes.
    BigInt(Vec<u8>),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    List(Vec<Value>),
    Tuple(Vec<Value>),
    Set(Vec<Value>),
    /// A dict (or `OrderedDict`) as its ordered key/value pairs.
    Dict(Vec<(Value, Value)>),
    /// A reference to a module-level name, never resolved.
    Global {
        module: String,
        name: String,
    },
    /// The record of a call or object construction that was not performed.
    Object(Box<Object>),
    /// A persistent id (`BINPERSID`) that was not one of torch's storage records.
    PersistentId(Box<Value>),
    /// A torch tensor view onto a storage record of the zip archive.
    TorchTensor(Box<TensorRef>),
    /// `getattr(obj, name)` on an object of an allowed class (`torch.*`, `ultralytics.*`):
    /// a method reference such as the `forward` that `model.fuse()` binds to
    /// `forward_fuse`. Data to us: never looked up, never called.
    Method {
        class: Box<Value>,
        name: String,
    },
    /// A reference back to an enclosing value that was still under construction (a cycle in
    /// the pickle); the reference is not followed.
    Cycle,
}

/// An object that would have been built by calling `class(*args, **kwargs)`, then
/// `__setstate__(state)` / `__setitem__` for each of `items`.
#[derive(Clone, Debug, PartialEq)]
pub struct Object {
    pub class: Value,
    pub args: Vec<Value>,
    pub kwargs: Vec<(Value, Value)>,
    pub state: Option<Value>,
    pub items: Vec<(Value, Value)>,
}

/// Element type of a torch storage, from its pickled class name (`torch.HalfStorage`, ...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dtype {
    F16,
    BF16,
    F32,
    F64,
    I64,
    I32,
    I16,
    I8,
    U8,
    Bool,
    /// Any other storage class, by name.
    Other(String),
}

/// A tensor as torch pickles it: a view (offset, shape, stride in elements) onto storage
/// `storage_key` of `numel` elements of `dtype`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorRef {
    pub storage_key: String,
    pub dtype: Dtype,
    pub numel: u64,
    pub offset: u64,
    pub shape: Vec<u64>,
    pub stride: Vec<u64>,
}

impl Dtype {
    /// Map a storage class name (`HalfStorage`) to its element type.
    pub fn from_storage_class(name: &str) -> Dtype {
        match name {
            "HalfStorage" => Dtype::F16,
            "BFloat16Storage" => Dtype::BF16,
            "FloatStorage" => Dtype::F32,
            "DoubleStorage" => Dtype::F64,
            "LongStorage" => Dtype::I64,
            "IntStorage" => Dtype::I32,
            "ShortStorage" => Dtype::I16,
            "CharStorage" => Dtype::I8,
            "ByteStorage" => Dtype::U8,
            "BoolStorage" => Dtype::Bool,
            other => Dtype::Other(other.to_string()),
        }
    }

    /// Bytes per element, when known.
    pub fn size(&self) -> Option<usize> {
        match self {
            Dtype::F64 | Dtype::I64 => Some(8),
            Dtype::F32 | Dtype::I32 => Some(4),
            Dtype::F16 | Dtype::BF16 | Dtype::I16 => Some(2),
            Dtype::I8 | Dtype::U8 | Dtype::Bool => Some(1),
            Dtype::Other(_) => None,
        }
    }

    /// True for the floating-point types converted to f32 on import.
    pub fn is_float(&self) -> bool {
        matches!(self, Dtype::F16 | Dtype::BF16 | Dtype::F32 | Dtype::F64)
    }
}

impl Value {
    /// Look up a string key in a dict.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Dict(pairs) => pairs
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Bool(b) => Some(*b as i64),
            _ => None,
        }
    }

    /// Numeric value of an int or float.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Float(f) => Some(*f),
            Value::Int(i) => Some(*i as f64),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<&Object> {
        match self {
            Value::Object(o) => Some(o),
            _ => None,
        }
    }
}

impl Object {
    /// `(module, name)` of the class, when it is a plain global.
    pub fn class_name(&self) -> Option<(&str, &str)> {
        match &self.class {
            Value::Global { module, name } => Some((module, name)),
            _ => None,
        }
    }

    /// Look up an attribute in a dict-shaped `state` (a module's `__dict__`).
    pub fn attr(&self, key: &str) -> Option<&Value> {
        self.state.as_ref()?.get(key)
    }
}

/// Decode a pickle without executing anything. The error names the problem and the byte
/// offset where it was found.
pub fn unpickle(bytes: &[u8]) -> Result<Value, String> {
    vm::run(bytes)
}
