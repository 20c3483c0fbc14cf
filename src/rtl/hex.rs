//! ROM image formatting for `$readmemh`: one word per line, fixed width hex, fields packed
//! least significant first, negative values in two's complement.

/// Pack `(value, width)` fields (first field in the least significant bits) into one
/// hex word of `ceil(total / 4)` digits. Each value is truncated to its width.
pub fn word(fields: &[(i64, u32)]) -> String {
    let total: u32 = fields.iter().map(|f| f.1).sum();
    let mut bits: Vec<bool> = Vec::with_capacity(total as usize);
    for &(v, w) in fields {
        for b in 0..w {
            bits.push(if b < 64 { (v >> b) & 1 == 1 } else { v < 0 });
        }
    }
    let digits = total.div_ceil(4).max(1) as usize;
    let mut s = String::with_capacity(digits);
    for d in (0..digits).rev() {
        let mut nib = 0u8;
        for k in 0..4 {
            if bits.get(d * 4 + k).copied().unwrap_or(false) {
                nib |= 1 << k;
            }
        }
        s.push(char::from_digit(nib as u32, 16).expect("nibble"));
    }
    s
}

/// A whole image: one line per word.
pub fn image(words: impl IntoIterator<Item = String>) -> String {
    let mut s = String::new();
    for w in words {
        s.push_str(&w);
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packs_lsb_first_in_twos_complement() {
        assert_eq!(word(&[(0x5, 4), (0xA, 4)]), "a5");
        assert_eq!(word(&[(-1, 8)]), "ff");
        assert_eq!(word(&[(-2, 3), (1, 1)]), "e");
        assert_eq!(word(&[(3, 2), (0, 3)]), "03");
        assert_eq!(word(&[(-1, 70)]), "3fffffffffffffffff");
    }
}
