//! The opcode loop of the restricted unpickler.
//!
//! Guarantees: every length field is checked against the bytes that remain before
//! anything is allocated, every stack access is checked, and an opcode outside the
//! supported set stops decoding with its name and byte offset.

use super::arena::{Arena, Id, Node};
use super::opcodes::op_name;
use super::{reduce, Dtype, Value};
use std::collections::HashMap;

struct Vm<'a> {
    data: &'a [u8],
    pos: usize,
    arena: Arena,
    stack: Vec<Id>,
    /// Stacks saved by MARK (Python's "metastack").
    marks: Vec<Vec<Id>>,
    memo: HashMap<u32, Id>,
}

/// Decode `data` into a value tree.
pub(super) fn run(data: &[u8]) -> Result<Value, String> {
    let mut vm = Vm {
        data,
        pos: 0,
        arena: Arena::default(),
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
    };
    loop {
        let at = vm.pos;
        let Some(&op) = data.get(at) else {
            return Err(format!(
                "pickle ends at byte {at} without a STOP opcode (truncated)"
            ));
        };
        vm.pos += 1;
        match vm.step(op) {
            Ok(Some(root)) => return vm.arena.to_value(root),
            Ok(None) => {}
            Err(e) => return Err(format!("{e} (opcode {} at byte {at})", op_name(op))),
        }
    }
}

impl<'a> Vm<'a> {
    /// Execute one opcode; `Some(id)` once STOP is reached.
    fn step(&mut self, op: u8) -> Result<Option<Id>, String> {
        match op {
            0x80 => {
                let v = self.byte()?;
                if v > 5 {
                    return Err(format!("unsupported pickle protocol {v}"));
                }
            }
            0x95 => {
                self.take(8)?;
            }
            b'.' => return self.pop().map(Some),
            b'(' => self.marks.push(std::mem::take(&mut self.stack)),
            b'0' => {
                if self.stack.pop().is_none() {
                    self.pop_mark()?;
                }
            }
            b'1' => {
                self.pop_mark()?;
            }
            b'2' => {
                let t = self.top()?;
                self.stack.push(t);
            }
            b'q' => {
                let i = self.byte()? as u32;
                self.memo.insert(i, self.top()?);
            }
            b'r' => {
                let i = self.u32()?;
                self.memo.insert(i, self.top()?);
            }
            0x94 => {
                let i = u32::try_from(self.memo.len()).map_err(|_| "memo overflow")?;
                self.memo.insert(i, self.top()?);
            }
            b'h' | b'j' => {
                let i = if op == b'h' {
                    self.byte()? as u32
                } else {
                    self.u32()?
                };
                let id = *self
                    .memo
                    .get(&i)
                    .ok_or(format!("memo entry {i} is not defined"))?;
                self.stack.push(id);
            }
            b'N' => self.push_leaf(Value::None),
            0x88 => self.push_leaf(Value::Bool(true)),
            0x89 => self.push_leaf(Value::Bool(false)),
            b'K' => {
                let v = self.byte()?;
                self.push_leaf(Value::Int(v.into()));
            }
            b'M' => {
                let b = self.take(2)?;
                self.push_leaf(Value::Int(u16::from_le_bytes([b[0], b[1]]).into()));
            }
            b'J' => {
                let b = self.take(4)?;
                self.push_leaf(Value::Int(
                    i32::from_le_bytes([b[0], b[1], b[2], b[3]]).into(),
                ));
            }
            0x8a | 0x8b => {
                let n = if op == 0x8a {
                    self.byte()? as u64
                } else {
                    self.u32()? as u64
                };
                let b = self.take(n)?;
                self.push_leaf(long(b));
            }
            b'G' => {
                let b = self.take(8)?;
                self.push_leaf(Value::Float(f64::from_be_bytes(
                    b.try_into().unwrap_or([0; 8]),
                )));
            }
            b'X' | 0x8c | 0x8d => {
                let n = self.len_field(op, 0x8c, b'X')?;
                let b = self.take(n)?;
                let s = std::str::from_utf8(b).map_err(|_| "string is not valid UTF-8")?;
                self.push_leaf(Value::Str(s.to_string()));
            }
            b'T' | b'U' => {
                let n = self.len_field(op, b'U', b'T')?;
                let b = self.take(n)?;
                self.push_leaf(match std::str::from_utf8(b) {
                    Ok(s) => Value::Str(s.to_string()),
                    Err(_) => Value::Bytes(b.to_vec()),
                });
            }
            b'B' | b'C' | 0x8e | 0x96 => {
                let n = self.len_field(op, b'C', b'B')?;
                let b = self.take(n)?;
                self.push_leaf(Value::Bytes(b.to_vec()));
            }
            b'c' => {
                let module = self.line()?;
                let name = self.line()?;
                self.push_leaf(Value::Global { module, name });
            }
            0x93 => {
                let name = self.pop_str()?;
                let module = self.pop_str()?;
                self.push_leaf(Value::Global { module, name });
            }
            b'}' => self.push(Node::Dict(Vec::new())),
            b']' => self.push(Node::List(Vec::new())),
            b')' => self.push(Node::Tuple(Vec::new())),
            0x8f => self.push(Node::Set(Vec::new())),
            0x85..=0x87 => {
                let n = (op - 0x84) as usize;
                if self.stack.len() < n {
                    return Err("stack underflow".into());
                }
                let items = self.stack.split_off(self.stack.len() - n);
                self.push(Node::Tuple(items));
            }
            b't' => {
                let items = self.pop_mark()?;
                self.push(Node::Tuple(items));
            }
            b'l' => {
                let items = self.pop_mark()?;
                self.push(Node::List(items));
            }
            0x91 => {
                let items = self.pop_mark()?;
                self.push(Node::Set(items));
            }
            b'd' => {
                let items = self.pop_mark()?;
                let pairs = pairs(items)?;
                self.push(Node::Dict(pairs));
            }
            b's' => {
                let v = self.pop()?;
                let k = self.pop()?;
                self.set_items(vec![(k, v)])?;
            }
            b'u' => {
                let items = self.pop_mark()?;
                self.set_items(pairs(items)?)?;
            }
            b'a' => {
                let v = self.pop()?;
                self.extend(vec![v], false)?;
            }
            b'e' => {
                let items = self.pop_mark()?;
                self.extend(items, false)?;
            }
            0x90 => {
                let items = self.pop_mark()?;
                self.extend(items, true)?;
            }
            b'R' | 0x81 | 0x92 => {
                let kwargs = if op == 0x92 { Some(self.pop()?) } else { None };
                let args = self.pop()?;
                let func = self.pop()?;
                let id = reduce::call(&mut self.arena, func, args, kwargs)?;
                self.stack.push(id);
            }
            b'b' => {
                let state = self.pop()?;
                let target = self.top()?;
                reduce::build(&mut self.arena, target, state);
            }
            b'Q' => {
                let pid = self.pop()?;
                let node = self.storage_record(pid);
                self.push(node);
            }
            _ => return Err("unsupported pickle opcode".into()),
        }
        Ok(None)
    }

    fn byte(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// The length operand of a string/bytes opcode: 1 byte for `short`, 4 for `long`,
    /// 8 for the `*8` forms.
    fn len_field(&mut self, op: u8, short: u8, long: u8) -> Result<u64, String> {
        if op == short {
            Ok(self.byte()?.into())
        } else if op == long {
            let b = self.take(4)?;
            let n = i32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            u64::try_from(n).map_err(|_| format!("negative length {n}"))
        } else {
            let b = self.take(8)?;
            Ok(u64::from_le_bytes(b.try_into().unwrap_or([0xff; 8])))
        }
    }

    /// Consume `n` bytes, refusing lengths beyond the end of the input.
    fn take(&mut self, n: u64) -> Result<&'a [u8], String> {
        let left = self.data.len() - self.pos;
        if n > left as u64 {
            return Err(format!(
                "length {n} runs past the end of the pickle ({left} bytes left)"
            ));
        }
        let data: &'a [u8] = self.data;
        let s = &data[self.pos..self.pos + n as usize];
        self.pos += n as usize;
        Ok(s)
    }

    /// A newline-terminated UTF-8 line (GLOBAL operands).
    fn line(&mut self) -> Result<String, String> {
        let rest = &self.data[self.pos..];
        let n = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or("unterminated line")?;
        let s = std::str::from_utf8(&rest[..n]).map_err(|_| "GLOBAL name is not UTF-8")?;
        self.pos += n + 1;
        Ok(s.to_string())
    }

    fn push(&mut self, node: Node) {
        let id = self.arena.push(node);
        self.stack.push(id);
    }

    fn push_leaf(&mut self, v: Value) {
        self.push(Node::Leaf(v));
    }

    fn pop(&mut self) -> Result<Id, String> {
        self.stack.pop().ok_or_else(|| "stack underflow".into())
    }

    fn top(&self) -> Result<Id, String> {
        self.stack
            .last()
            .copied()
            .ok_or_else(|| "stack underflow".into())
    }

    fn pop_str(&mut self) -> Result<String, String> {
        let id = self.pop()?;
        match self.arena.get(id) {
            Node::Leaf(Value::Str(s)) => Ok(s.clone()),
            _ => Err("STACK_GLOBAL operand is not a string".into()),
        }
    }

    /// Items pushed since the last MARK; the stack below the mark is restored.
    fn pop_mark(&mut self) -> Result<Vec<Id>, String> {
        let below = self.marks.pop().ok_or("no MARK on the stack")?;
        Ok(std::mem::replace(&mut self.stack, below))
    }

    fn set_items(&mut self, kv: Vec<(Id, Id)>) -> Result<(), String> {
        match self.arena.get_mut(self.top()?) {
            Node::Dict(p) | Node::Object { items: p, .. } => p.extend(kv),
            _ => return Err("SETITEM target is not a dict".into()),
        }
        Ok(())
    }

    fn extend(&mut self, items: Vec<Id>, set: bool) -> Result<(), String> {
        match (self.arena.get_mut(self.top()?), set) {
            (Node::List(v), false) | (Node::Set(v), true) => v.extend(items),
            _ => return Err("APPEND/ADDITEMS target is not a list/set".into()),
        }
        Ok(())
    }

    /// Recognise torch's `('storage', <StorageClass>, key, location, numel)` record.
    fn storage_record(&self, pid: Id) -> Node {
        let a = &self.arena;
        if let Node::Tuple(t) = a.get(pid) {
            if let [tag, class, key, _loc, numel] = t.as_slice() {
                let tag = matches!(a.get(*tag), Node::Leaf(Value::Str(s)) if s == "storage");
                let dtype = match a.get(*class) {
                    Node::Leaf(Value::Global { name, .. }) => Some(Dtype::from_storage_class(name)),
                    _ => None,
                };
                let key = match a.get(*key) {
                    Node::Leaf(Value::Str(s)) => Some(s.clone()),
                    Node::Leaf(Value::Int(i)) => Some(i.to_string()),
                    _ => None,
                };
                let numel = match a.get(*numel) {
                    Node::Leaf(Value::Int(n)) => u64::try_from(*n).ok(),
                    _ => None,
                };
                if let (true, Some(dtype), Some(key), Some(numel)) = (tag, dtype, key, numel) {
                    return Node::Storage {
                        pid,
                        key,
                        dtype,
                        numel,
                    };
                }
            }
        }
        Node::Persistent(pid)
    }
}

/// Pair up alternating keys and values.
fn pairs(items: Vec<Id>) -> Result<Vec<(Id, Id)>, String> {
    if !items.len().is_multiple_of(2) {
        return Err("odd number of items for a dict".into());
    }
    Ok(items.chunks_exact(2).map(|c| (c[0], c[1])).collect())
}

/// Decode a little-endian two's complement integer (LONG1/LONG4).
fn long(b: &[u8]) -> Value {
    let neg = b.last().is_some_and(|&x| x & 0x80 != 0);
    let fill = if neg { 0xff } else { 0 };
    let sig = b.iter().rposition(|&x| x != fill).map_or(0, |i| i + 1);
    // Needs the sign bit of the last kept byte to match, hence one byte to spare.
    if sig < 8 || (sig == 8 && (b[7] & 0x80 != 0) == neg) {
        let mut buf = [fill; 8];
        let n = b.len().min(8);
        buf[..n].copy_from_slice(&b[..n]);
        Value::Int(i64::from_le_bytes(buf))
    } else {
        Value::BigInt(b.to_vec())
    }
}
