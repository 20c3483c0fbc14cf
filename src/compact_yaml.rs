//! A compact YAML writer for traces meant to be read by eye: mappings in block style,
//! sequences of scalars on one line (`[1, 2, 3]`), everything else as usual. The output is
//! plain YAML that any parser reads back to the same value.

use serde_json::Value;

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => serde_json::to_string(s).expect("string"),
        _ => unreachable!("not a scalar"),
    }
}

fn is_flat(v: &Value) -> bool {
    matches!(v, Value::Array(a) if a.iter().all(|x| !x.is_array() && !x.is_object()))
}

fn flow(v: &Value) -> String {
    match v {
        Value::Array(a) => format!("[{}]", a.iter().map(flow).collect::<Vec<_>>().join(", ")),
        other => scalar(other),
    }
}

/// Nested arrays of scalars up to this depth stay on one line each at the innermost level.
fn emit(v: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                match x {
                    Value::Object(_) => {
                        out.push_str(&format!("{pad}{k}:\n"));
                        emit(x, indent + 2, out);
                    }
                    Value::Array(a) if !is_flat(x) && !a.is_empty() => {
                        out.push_str(&format!("{pad}{k}:\n"));
                        emit(x, indent + 2, out);
                    }
                    _ => out.push_str(&format!("{pad}{k}: {}\n", flow(x))),
                }
            }
        }
        Value::Array(a) => {
            for x in a {
                match x {
                    Value::Object(_) => {
                        let mut inner = String::new();
                        emit(x, indent + 2, &mut inner);
                        let trimmed = inner.trim_start_matches(' ');
                        out.push_str(&format!("{pad}- {trimmed}"));
                    }
                    Value::Array(_) if !is_flat(x) => {
                        out.push_str(&format!("{pad}-\n"));
                        emit(x, indent + 2, out);
                    }
                    _ => out.push_str(&format!("{pad}- {}\n", flow(x))),
                }
            }
        }
        other => out.push_str(&format!("{pad}{}\n", scalar(other))),
    }
}

/// Serialize any value as compact YAML.
pub fn to_string<T: serde::Serialize>(v: &T) -> crate::Result<String> {
    let j = serde_json::to_value(v).map_err(|e| crate::Error::Other(e.to_string()))?;
    let mut s = String::new();
    emit(&j, 0, &mut s);
    Ok(s)
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trips_through_a_yaml_parser() {
        let v = serde_json::json!([
            {"name": "a.b", "kind": "conv", "window": [[[1, 2], [3, 4]], [[5, 6], [7, 8]]], "acc": -5, "t": null, "x": {"y": [1.5, 2.0]}},
            {"name": "c", "input": [[1, 2, 3]], "empty": []}
        ]);
        let s = super::to_string(&v).unwrap();
        let back: serde_json::Value = serde_norway::from_str(&s).unwrap();
        assert_eq!(back, v, "{s}");
        assert!(s.contains("[1, 2]"));
    }
}
