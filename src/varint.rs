//! Variable-length numbers for the state's packed texts (tables, parents' read times): LEB128
//! varints, 7 bits a byte, and zigzag for signed numbers, so that numbers near zero either way
//! take one byte.

/// Appends `n` as a varint (7 bits a byte, the high bit set on all but the last).
pub fn put(bytes: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        bytes.push((n as u8) | 0x80);
        n >>= 7;
    }
    bytes.push(n as u8);
}

/// Takes a varint [`put`] wrote off the front of `bytes`.
pub fn take(bytes: &mut &[u8]) -> Result<u64, String> {
    let mut n = 0u64;
    for (i, &b) in bytes.iter().enumerate().take(10) {
        let bits = u64::from(b & 0x7F);
        if i == 9 && bits > 1 {
            break;
        }
        n |= bits << (7 * i);
        if b & 0x80 == 0 {
            *bytes = &bytes[i + 1..];
            return Ok(n);
        }
    }
    Err("a number is cut short or too long".into())
}

/// A signed number as an unsigned one that is small when the number is near zero either way.
pub fn zigzag(n: i64) -> u64 {
    ((n << 1) ^ (n >> 63)) as u64
}

/// The number [`zigzag`] made `n` of.
pub fn unzigzag(n: u64) -> i64 {
    ((n >> 1) as i64) ^ -((n & 1) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip_and_small_ones_take_a_byte() {
        for n in [0, 1, 127, 128, 300, 1 << 35, u64::MAX] {
            let mut bytes = Vec::new();
            put(&mut bytes, n);
            let mut rest = bytes.as_slice();
            assert_eq!(take(&mut rest), Ok(n));
            assert!(rest.is_empty());
        }
        for n in [0, -1, 1, -64, 63, i64::MIN, i64::MAX] {
            assert_eq!(unzigzag(zigzag(n)), n);
        }
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(63), 126);
    }

    #[test]
    fn a_number_cut_short_or_too_long_is_refused() {
        assert!(take(&mut &[0x80][..]).is_err());
        assert!(take(&mut &[][..]).is_err());
        assert!(take(&mut &[0xFF; 11][..]).is_err());
        // Ten bytes whose last holds more than the 64th bit.
        let mut over = vec![0xFF; 9];
        over.push(0x02);
        assert!(take(&mut over.as_slice()).is_err());
    }
}
