//! The packed formats' common parts: member sets as bitmaps ([`Bits`]),
//! who a request counts ([`Mask`]), and the readers of the big-endian
//! integers that the rollup's SQL writes (`int4send`, `int8send`). Each
//! format's own layout and decoder stand in its file (`sets`, `stints`,
//! `order_days`, `timelines`), beside the SQL that writes it.

/// A set of member numbers.
#[derive(Debug, Clone, Default)]
pub struct Bits {
    words: Vec<u64>,
}

impl Bits {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn from_ones(ones: impl IntoIterator<Item = u32>) -> Self {
        let mut b = Self::new();
        for i in ones {
            b.insert(i);
        }
        b
    }

    pub fn insert(&mut self, i: u32) {
        let w = (i / 64) as usize;
        if w >= self.words.len() {
            self.words.resize(w + 1, 0);
        }
        self.words[w] |= 1 << (i % 64);
    }

    pub fn contains(&self, i: u32) -> bool {
        self.words.get((i / 64) as usize).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    /// Members in the set.
    pub fn len(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|w| *w == 0)
    }

    pub fn union_with(&mut self, other: &Bits) {
        if other.words.len() > self.words.len() {
            self.words.resize(other.words.len(), 0);
        }
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a |= b;
        }
    }

    pub fn intersect_with(&mut self, other: &Bits) {
        self.words.truncate(other.words.len());
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a &= b;
        }
    }

    pub fn difference_with(&mut self, other: &Bits) {
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a &= !b;
        }
    }

    /// Members in both sets.
    pub fn intersection_len(&self, other: &Bits) -> usize {
        self.words.iter().zip(&other.words).map(|(a, b)| (a & b).count_ones() as usize).sum()
    }

    /// The members, ascending.
    pub fn ones(&self) -> impl Iterator<Item = u32> + '_ {
        self.words.iter().enumerate().flat_map(|(w, &word)| {
            let mut rest = word;
            std::iter::from_fn(move || {
                (rest != 0).then(|| {
                    let bit = rest.trailing_zeros();
                    rest &= rest - 1;
                    w as u32 * 64 + bit
                })
            })
        })
    }

    /// The union of `sets`.
    pub fn union_of<'a>(sets: impl IntoIterator<Item = &'a Bits>) -> Bits {
        let mut out = Bits::new();
        for s in sets {
            out.union_with(s);
        }
        out
    }
}

/// Who a request counts: everyone but the excluded (staff and bots unless
/// `include_staff`), and with a join-source scope only the members it names.
#[derive(Debug, Clone, Default)]
pub struct Mask {
    exclude: Bits,
    only: Option<Bits>,
}

impl Mask {
    /// Everyone but `exclude`, and with `only` just the members it holds.
    pub fn new(exclude: Bits, only: Option<Bits>) -> Self {
        Self { exclude, only }
    }

    pub fn keeps(&self, i: u32) -> bool {
        !self.exclude.contains(i) && self.only.as_ref().is_none_or(|o| o.contains(i))
    }

    /// Whether rows without a member count (not when only named members do).
    pub fn keeps_no_member(&self) -> bool {
        self.only.is_none()
    }

    /// A mask keeping only these members (as a join-source scope does).
    #[cfg(test)]
    pub fn only(ones: impl IntoIterator<Item = u32>) -> Self {
        Mask { exclude: Bits::new(), only: Some(Bits::from_ones(ones)) }
    }

    pub fn apply(&self, set: &mut Bits) {
        set.difference_with(&self.exclude);
        if let Some(only) = &self.only {
            set.intersect_with(only);
        }
    }
}

/// The member numbers of a packed list (4-byte big-endian integers, as
/// `int4send` writes them; numbers are never negative, so their bytes read
/// the same as unsigned). One item per entry, so parallel lists stay aligned.
pub fn unpack(packed: &[u8]) -> impl Iterator<Item = u32> + '_ {
    packed.chunks_exact(4).map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
}

/// The counts of a packed list.
pub fn unpack_counts(packed: &[u8]) -> impl Iterator<Item = i64> + '_ {
    packed.chunks_exact(4).map(|c| i64::from(i32::from_be_bytes([c[0], c[1], c[2], c[3]])))
}

/// The big-endian `i32` at byte `at` of a packed record (the caller sized the record).
pub fn be_i32(b: &[u8], at: usize) -> i32 {
    let mut x = [0u8; 4];
    x.copy_from_slice(&b[at..at + 4]);
    i32::from_be_bytes(x)
}

/// The big-endian `i64` at byte `at` of a packed record (the caller sized the record).
pub fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(x)
}

/// A set of the non-negative numbers in `ones`.
pub fn to_bits(ones: &[i32]) -> Bits {
    Bits::from_ones(ones.iter().filter_map(|&i| u32::try_from(i).ok()))
}
