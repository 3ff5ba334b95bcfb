//! The service's codec: prost's, with one check before a request message
//! is decoded. prost builds every message it reads, and the smallest
//! repeated field costs far more decoded than sent: an empty
//! `InferInputTensor` is two bytes on the wire and about 300 in memory, so
//! a 32 MiB `ModelInfer` of empty inputs asked for 10 GB before any check
//! (the fuzz tests, tests/fuzz/, found it). A request may therefore hold at
//! most [`MAX_TOP_LEVEL_FIELDS`] top-level fields (inputs, outputs, raw
//! contents and parameters together; a model has a handful), counted on the
//! wire first. Nested repeated fields cost at most a few dozen bytes per
//! byte and need no limit.

use std::marker::PhantomData;

use prost::Message;
use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder};
use tonic::Status;
use tonic_prost::{ProstCodec, ProstDecoder, ProstEncoder};

/// Top-level fields a request message may hold.
pub const MAX_TOP_LEVEL_FIELDS: usize = 4096;

/// Counts a message's top-level fields (without decoding them) and refuses
/// one with more than [`MAX_TOP_LEVEL_FIELDS`]. Malformed bytes are left to
/// prost, which says what is wrong with them.
pub fn check_fields(mut message: &[u8]) -> Result<(), String> {
    let mut fields = 0usize;
    while !message.is_empty() {
        fields += 1;
        if fields > MAX_TOP_LEVEL_FIELDS {
            return Err(format!(
                "a request message may hold at most {MAX_TOP_LEVEL_FIELDS} fields (inputs, outputs, raw contents and parameters)"
            ));
        }
        let Some(key) = varint(&mut message) else {
            return Ok(());
        };
        let skipped = match key & 7 {
            0 => varint(&mut message).map(|_| 0),
            1 => Some(8),
            2 => varint(&mut message).and_then(|n| usize::try_from(n).ok()),
            5 => Some(4),
            // Groups and invalid wire types: prost refuses them.
            _ => None,
        };
        match skipped {
            Some(n) if n <= message.len() => message = &message[n..],
            _ => return Ok(()),
        }
    }
    Ok(())
}

fn varint(buf: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for i in 0..10 {
        let (&byte, rest) = buf.split_first()?;
        *buf = rest;
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte < 0x80 {
            return Some(value);
        }
    }
    None
}

/// prost's codec with [`check_fields`] before each request is decoded.
#[derive(Debug, Clone)]
pub struct BoundedCodec<T, U>(PhantomData<(T, U)>);

impl<T, U> Default for BoundedCodec<T, U> {
    fn default() -> Self {
        BoundedCodec(PhantomData)
    }
}

impl<T, U> Codec for BoundedCodec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = BoundedDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstCodec::<T, U>::raw_encoder(BufferSettings::default())
    }

    fn decoder(&mut self) -> Self::Decoder {
        BoundedDecoder(ProstDecoder::new(BufferSettings::default()))
    }
}

#[derive(Debug)]
pub struct BoundedDecoder<U>(ProstDecoder<U>);

impl<U: Message + Default> Decoder for BoundedDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        use bytes::Buf;
        // The buffer holds exactly one whole message, contiguous.
        check_fields(buf.chunk()).map_err(Status::invalid_argument)?;
        self.0.decode(buf)
    }

    fn buffer_settings(&self) -> BufferSettings {
        self.0.buffer_settings()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_of_too_many_fields_is_refused_before_it_is_decoded() {
        let at_limit = [0x2a, 0x00].repeat(MAX_TOP_LEVEL_FIELDS);
        assert_eq!(check_fields(&at_limit), Ok(()));
        let past = [0x2a, 0x00].repeat(MAX_TOP_LEVEL_FIELDS + 1);
        assert!(check_fields(&past)
            .unwrap_err()
            .contains("at most 4096 fields"));
        // Fields of every wire type count; nested ones do not.
        let mut mixed = Vec::new();
        for _ in 0..MAX_TOP_LEVEL_FIELDS / 4 {
            mixed.extend_from_slice(&[0x08, 0x96, 0x01]); // varint
            mixed.extend_from_slice(&[0x11, 0, 0, 0, 0, 0, 0, 0, 0]); // 64-bit
            mixed.extend_from_slice(&[0x1d, 0, 0, 0, 0]); // 32-bit
            mixed.extend_from_slice(&[0x2a, 0x04, 0x0a, 0x00, 0x0a, 0x00]); // nested
        }
        assert_eq!(check_fields(&mixed), Ok(()));
        mixed.extend_from_slice(&[0x08, 0x01]);
        assert!(check_fields(&mixed).is_err());
        // Malformed bytes are prost's to refuse.
        assert_eq!(check_fields(&[0x2a, 0x7f]), Ok(()));
        assert_eq!(check_fields(&[0xff; 11]), Ok(()));
    }
}
