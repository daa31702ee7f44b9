//! The set of HLL++ sparse codes a sparse [`super::hll_sketch::HllSketch`] holds: an
//! open-addressing hash set of non-zero `u32`s, so adding a code and counting the distinct
//! codes never sorts. Sorting happens only when the codes are written out.

/// Distinct non-zero codes (a sparse code is never 0: see `hll_sketch`'s module docs).
#[derive(Debug, Clone, Default)]
pub struct CodeSet {
    /// Power-of-two many slots (or none), 0 = empty; at most 3/4 full.
    slots: Vec<u32>,
    len: usize,
}

/// Slots of the first allocation.
const FIRST_SLOTS: usize = 16;

impl CodeSet {
    /// Number of distinct codes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the set has no code.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Heap bytes.
    pub fn heap_size(&self) -> usize {
        self.slots.capacity() * 4
    }

    /// Whether the next insert may have to grow the table.
    #[inline]
    pub fn full(&self) -> bool {
        (self.len + 1) * 4 > self.slots.len() * 3
    }

    #[inline]
    fn slot(code: u32, bits: u32) -> usize {
        // Fibonacci hashing: the codes' low bits are not uniform (bit 0 is a flag).
        (code.wrapping_mul(0x9E37_79B9) >> (32 - bits)) as usize
    }

    /// Adds a non-zero code; true if it was new.
    #[inline]
    pub fn insert(&mut self, code: u32) -> bool {
        debug_assert_ne!(code, 0, "0 marks an empty slot");
        if self.full() {
            self.grow();
        }
        let bits = self.slots.len().trailing_zeros();
        let mask = self.slots.len() - 1;
        let mut i = Self::slot(code, bits);
        loop {
            match self.slots[i] {
                0 => {
                    self.slots[i] = code;
                    self.len += 1;
                    return true;
                }
                c if c == code => return false,
                _ => i = (i + 1) & mask,
            }
        }
    }

    fn grow(&mut self) {
        let slots = (self.slots.len() * 2).max(FIRST_SLOTS);
        let old = std::mem::replace(&mut self.slots, vec![0; slots]);
        self.len = 0;
        for code in old.into_iter().filter(|c| *c != 0) {
            self.insert(code);
        }
    }

    /// The codes, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.slots.iter().copied().filter(|c| *c != 0)
    }

    /// The codes in ascending order, into `out` (cleared first).
    pub fn sorted_into(&self, out: &mut Vec<u32>) {
        out.clear();
        out.extend(self.iter());
        out.sort_unstable();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_each_code_once_across_growth() {
        let mut set = CodeSet::default();
        assert!(set.is_empty());
        for round in 0..2 {
            for c in 1..=1000u32 {
                assert_eq!(set.insert(c * 2), round == 0, "code {c}");
            }
        }
        assert_eq!(set.len(), 1000);
        assert!(set.heap_size() >= 1000 * 4 * 4 / 3);
        let mut sorted = Vec::new();
        set.sorted_into(&mut sorted);
        assert_eq!(sorted, (1..=1000u32).map(|c| c * 2).collect::<Vec<_>>());
    }
}
