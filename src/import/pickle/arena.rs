//! The unpickler's working memory: a flat arena of nodes referenced by index, so the memo
//! can share mutable containers the way Python does; and the bounded conversion of the
//! final graph into an owned [`Value`] tree.
//!
//! Guarantees: a reference back to a container or object that is still being expanded (a
//! cycle, e.g. a module whose `__dict__` holds something built from the module itself)
//! becomes [`Value::Cycle`] instead of being followed; conversion stops with `Err` on nesting
//! deeper than [`MAX_DEPTH`] and on trees whose expanded size exceeds [`MAX_UNITS`] (shared
//! references are copied, so a small hostile pickle could otherwise expand exponentially).

use super::{Dtype, Object, TensorRef, Value};
use std::collections::HashSet;

/// Index of a node in the arena.
pub(super) type Id = usize;

/// Deepest nesting accepted in the result (a YOLOv8 checkpoint needs about 40).
pub(super) const MAX_DEPTH: usize = 256;
/// Size budget of the expanded tree: one unit per value plus one per 32 string bytes.
pub(super) const MAX_UNITS: usize = 1 << 22;

/// One pickled value; containers hold arena ids so later opcodes can mutate them.
pub(super) enum Node {
    Leaf(Value),
    List(Vec<Id>),
    Tuple(Vec<Id>),
    Set(Vec<Id>),
    Dict(Vec<(Id, Id)>),
    Object {
        class: Id,
        args: Vec<Id>,
        kwargs: Vec<(Id, Id)>,
        state: Option<Id>,
        items: Vec<(Id, Id)>,
    },
    /// A persistent id that was not a torch storage record.
    Persistent(Id),
    /// A torch storage record `('storage', <class>, key, location, numel)`.
    Storage {
        pid: Id,
        key: String,
        dtype: Dtype,
        numel: u64,
    },
    Tensor(TensorRef),
}

#[derive(Default)]
pub(super) struct Arena {
    nodes: Vec<Node>,
}

impl Arena {
    pub fn push(&mut self, node: Node) -> Id {
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    pub fn get(&self, id: Id) -> &Node {
        &self.nodes[id]
    }

    pub fn get_mut(&mut self, id: Id) -> &mut Node {
        &mut self.nodes[id]
    }

    /// Expand node `id` into an owned tree, within the depth and size limits.
    pub fn to_value(&self, id: Id) -> Result<Value, String> {
        let mut units = 0usize;
        let mut path = HashSet::new();
        self.expand(id, 0, &mut units, &mut path)
    }

    /// Expand `id`; `path` holds the ids being expanded above it (their expansion is not
    /// finished, so meeting one again is a cycle).
    fn expand(
        &self,
        id: Id,
        depth: usize,
        units: &mut usize,
        path: &mut HashSet<Id>,
    ) -> Result<Value, String> {
        if path.contains(&id) {
            return Ok(Value::Cycle);
        }
        if depth > MAX_DEPTH {
            return Err(format!("pickle nests deeper than {MAX_DEPTH} levels"));
        }
        *units += 1;
        if *units > MAX_UNITS {
            return Err(format!(
                "pickle expands to more than {MAX_UNITS} values (shared references)"
            ));
        }
        path.insert(id);
        let v = self.expand_node(id, depth, units, path);
        path.remove(&id);
        v
    }

    fn expand_node(
        &self,
        id: Id,
        depth: usize,
        units: &mut usize,
        path: &mut HashSet<Id>,
    ) -> Result<Value, String> {
        let d = depth + 1;
        type Units<'u> = (&'u mut usize, &'u mut HashSet<Id>);
        let list = |ids: &[Id], (units, path): Units| -> Result<Vec<Value>, String> {
            ids.iter()
                .map(|&i| self.expand(i, d, units, path))
                .collect()
        };
        let pairs =
            |ids: &[(Id, Id)], (units, path): Units| -> Result<Vec<(Value, Value)>, String> {
                ids.iter()
                    .map(|&(k, v)| {
                        Ok((
                            self.expand(k, d, units, path)?,
                            self.expand(v, d, units, path)?,
                        ))
                    })
                    .collect()
            };
        Ok(match self.get(id) {
            Node::Leaf(v) => {
                if let Value::Str(s) = v {
                    *units += s.len() / 32;
                } else if let Value::Bytes(b) = v {
                    *units += b.len() / 32;
                }
                if *units > MAX_UNITS {
                    return Err(format!("pickle expands to more than {MAX_UNITS} values"));
                }
                v.clone()
            }
            Node::List(ids) => Value::List(list(ids, (units, path))?),
            Node::Tuple(ids) => Value::Tuple(list(ids, (units, path))?),
            Node::Set(ids) => Value::Set(list(ids, (units, path))?),
            Node::Dict(ps) => Value::Dict(pairs(ps, (units, path))?),
            Node::Object {
                class,
                args,
                kwargs,
                state,
                items,
            } => Value::Object(Box::new(Object {
                class: self.expand(*class, d, units, path)?,
                args: list(args, (units, path))?,
                kwargs: pairs(kwargs, (units, path))?,
                state: match state {
                    Some(s) => Some(self.expand(*s, d, units, path)?),
                    None => None,
                },
                items: pairs(items, (units, path))?,
            })),
            Node::Persistent(pid) | Node::Storage { pid, .. } => {
                Value::PersistentId(Box::new(self.expand(*pid, d, units, path)?))
            }
            Node::Tensor(t) => Value::TorchTensor(Box::new(t.clone())),
        })
    }
}
