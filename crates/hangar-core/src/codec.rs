//! The little-endian binary forms Hangar writes for itself (stored monitoring
//! aggregates, the prediction log's request buffer, stored feature values):
//! appending numbers and length-prefixed bytes to a `Vec<u8>` ([`Put`]), and
//! reading them back with every read bounds-checked ([`Reader`]), so that a
//! truncated or corrupt input is an error, never a panic.
//!
//! `bytes`/`str` are a u32 length and then the bytes. What the values mean,
//! and any version byte, belong to each format.

/// Why a read failed: a short reason, for the caller's own error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodecError(pub &'static str);

impl std::fmt::Display for CodecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for CodecError {}

/// Appends little-endian values to a byte buffer.
pub trait Put {
    fn put_u8(&mut self, v: u8);
    fn put_u32(&mut self, v: u32);
    fn put_u64(&mut self, v: u64);
    fn put_i64(&mut self, v: i64);
    fn put_f32(&mut self, v: f32);
    fn put_f64(&mut self, v: f64);
    /// A u32 length, then the bytes.
    fn put_bytes(&mut self, v: &[u8]);
    /// A u32 length, then the UTF-8 bytes.
    fn put_str(&mut self, s: &str) {
        self.put_bytes(s.as_bytes());
    }
    /// A u32 length, then the values.
    fn put_u64s(&mut self, v: &[u64]) {
        self.put_u32(v.len() as u32);
        for &n in v {
            self.put_u64(n);
        }
    }
    /// A u32 length, then the value `f` writes (the length is patched in
    /// once it is written, so the value needs no copy).
    fn put_len_prefixed(&mut self, f: impl FnOnce(&mut Self));
}

impl Put for Vec<u8> {
    #[inline]
    fn put_u8(&mut self, v: u8) {
        self.push(v);
    }
    #[inline]
    fn put_u32(&mut self, v: u32) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    #[inline]
    fn put_u64(&mut self, v: u64) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    #[inline]
    fn put_i64(&mut self, v: i64) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    #[inline]
    fn put_f32(&mut self, v: f32) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    #[inline]
    fn put_f64(&mut self, v: f64) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    #[inline]
    fn put_bytes(&mut self, v: &[u8]) {
        self.put_u32(v.len() as u32);
        self.extend_from_slice(v);
    }
    #[inline]
    fn put_len_prefixed(&mut self, f: impl FnOnce(&mut Self)) {
        let at = self.len();
        self.put_u32(0);
        f(self);
        let n = (self.len() - at - 4) as u32;
        self[at..at + 4].copy_from_slice(&n.to_le_bytes());
    }
}

/// Reads little-endian values from the front of a byte slice; what it
/// returns borrows from the slice.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { rest: bytes }
    }

    /// The bytes not read yet.
    #[inline]
    pub fn remaining(&self) -> usize {
        self.rest.len()
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The next `n` bytes.
    #[inline]
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        if self.rest.len() < n {
            return Err(CodecError("truncated"));
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(head)
    }

    #[inline]
    fn array<const N: usize>(&mut self) -> Result<[u8; N], CodecError> {
        let mut b = [0; N];
        b.copy_from_slice(self.take(N)?);
        Ok(b)
    }

    #[inline]
    pub fn u8(&mut self) -> Result<u8, CodecError> {
        Ok(self.take(1)?[0])
    }

    #[inline]
    pub fn u32(&mut self) -> Result<u32, CodecError> {
        self.array().map(u32::from_le_bytes)
    }

    #[inline]
    pub fn u64(&mut self) -> Result<u64, CodecError> {
        self.array().map(u64::from_le_bytes)
    }

    #[inline]
    pub fn i64(&mut self) -> Result<i64, CodecError> {
        self.array().map(i64::from_le_bytes)
    }

    #[inline]
    pub fn f32(&mut self) -> Result<f32, CodecError> {
        self.array().map(f32::from_le_bytes)
    }

    #[inline]
    pub fn f64(&mut self) -> Result<f64, CodecError> {
        self.array().map(f64::from_le_bytes)
    }

    /// A u32 count of items of at least `min_size` bytes each, checked
    /// against what is left, so that a corrupt count cannot make the caller
    /// allocate wildly.
    #[inline]
    pub fn len(&mut self, min_size: usize) -> Result<usize, CodecError> {
        let n = self.u32()? as usize;
        if n.saturating_mul(min_size.max(1)) > self.rest.len() {
            return Err(CodecError("count past the end"));
        }
        Ok(n)
    }

    /// A u32 length, then that many bytes.
    #[inline]
    pub fn bytes(&mut self) -> Result<&'a [u8], CodecError> {
        let n = self.u32()? as usize;
        self.take(n)
    }

    /// A u32 length, then that many bytes of UTF-8.
    #[inline]
    pub fn str(&mut self) -> Result<&'a str, CodecError> {
        std::str::from_utf8(self.bytes()?).map_err(|_| CodecError("text"))
    }

    /// A u32 count, then that many u64s.
    pub fn u64s(&mut self) -> Result<Vec<u64>, CodecError> {
        let n = self.len(8)?;
        (0..n).map(|_| self.u64()).collect()
    }

    /// `n` f32s (the count is the caller's), read in one bounds check.
    #[inline]
    pub fn f32s(&mut self, n: usize) -> Result<impl Iterator<Item = f32> + 'a, CodecError> {
        let b = self.take(n.checked_mul(4).ok_or(CodecError("truncated"))?)?;
        Ok(b.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
    }

    /// `n` f64s (the count is the caller's), read in one bounds check.
    #[inline]
    pub fn f64s(&mut self, n: usize) -> Result<impl Iterator<Item = f64> + 'a, CodecError> {
        let b = self.take(n.checked_mul(8).ok_or(CodecError("truncated"))?)?;
        Ok(b.chunks_exact(8).map(|c| {
            let mut a = [0; 8];
            a.copy_from_slice(c);
            f64::from_le_bytes(a)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_back_as_written() {
        let mut b = Vec::new();
        b.put_u8(7);
        b.put_u32(0xdead_beef);
        b.put_u64(u64::MAX - 1);
        b.put_i64(-42);
        b.put_f32(1.5);
        b.put_f64(-0.1);
        b.put_str("héllo");
        b.put_u64s(&[1, 2, 3]);
        b.put_len_prefixed(|b| b.put_bytes(b"ab"));
        let mut r = Reader::new(&b);
        assert_eq!(r.u8(), Ok(7));
        assert_eq!(r.u32(), Ok(0xdead_beef));
        assert_eq!(r.u64(), Ok(u64::MAX - 1));
        assert_eq!(r.i64(), Ok(-42));
        assert_eq!(r.f32(), Ok(1.5));
        assert_eq!(r.f64(), Ok(-0.1));
        assert_eq!(r.str(), Ok("héllo"));
        assert_eq!(r.u64s(), Ok(vec![1, 2, 3]));
        assert_eq!(r.u32(), Ok(6));
        assert_eq!(r.bytes(), Ok(&b"ab"[..]));
        assert!(r.is_empty());
    }

    #[test]
    fn the_form_is_little_endian() {
        let mut b = Vec::new();
        b.put_u32(1);
        b.put_str("a");
        assert_eq!(b, [1, 0, 0, 0, 1, 0, 0, 0, b'a']);
    }

    #[test]
    fn short_or_corrupt_input_is_an_error_not_a_panic() {
        assert_eq!(Reader::new(&[1, 2, 3]).u32(), Err(CodecError("truncated")));
        assert_eq!(Reader::new(&[]).u8(), Err(CodecError("truncated")));
        // A length past the end.
        assert_eq!(
            Reader::new(&[9, 0, 0, 0, b'a']).bytes(),
            Err(CodecError("truncated"))
        );
        // A count that would need more bytes than are left.
        assert_eq!(
            Reader::new(&[u8::MAX; 8]).len(8),
            Err(CodecError("count past the end"))
        );
        assert_eq!(
            Reader::new(&[2, 0, 0, 0, 0xff, 0xfe]).str(),
            Err(CodecError("text"))
        );
        assert!(Reader::new(&[0; 7]).f64s(1).is_err());
        assert!(Reader::new(&[0; 8]).f32s(usize::MAX).is_err());
    }
}
