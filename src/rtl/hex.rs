//! ROM image formatting for `$readmemh`: one word per line, fixed width hex, fields packed
//! least significant first, negative values in two's complement. The crate's one writer of
//! hex images: the generated designs' `mem/` and `tb/` files and the quantizer's `mem/` and
//! `activations/` artifacts (`quant::artifacts`).

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

/// An image of single values: one `bits`-wide word per line.
pub fn values(vals: impl IntoIterator<Item = i64>, bits: u32) -> String {
    image(vals.into_iter().map(|v| word(&[(v, bits)])))
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
        assert_eq!(values([-1, 5, 300], 9), "1ff\n005\n12c\n");
    }

    /// Single values against the masked two's complement, `ceil(bits / 4)` digits.
    #[test]
    fn single_values_are_masked_twos_complement() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for bits in 1..=64u32 {
            for _ in 0..8 {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let v = (x as i64) >> (x % 64);
                let mask = if bits == 64 {
                    u64::MAX
                } else {
                    (1u64 << bits) - 1
                };
                let digits = bits.div_ceil(4) as usize;
                let want = format!("{:0digits$x}\n", v as u64 & mask);
                assert_eq!(values([v], bits), want, "{v} at {bits} bits");
            }
        }
    }
}
