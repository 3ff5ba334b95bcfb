//! The protobuf wire format, read in place: what the checks of model files
//! (`guard.rs`, `classes.rs`) walk instead of decoding messages into structs,
//! so that no file makes them allocate (an empty message is two bytes on
//! the wire and tens to hundreds of bytes as a struct). The checks are
//! those of protobuf's decoders (prost's): a key of at most 32 bits with a
//! valid wire type and a field number above 0, varints of at most 10 bytes,
//! lengths within the buffer, groups skipped to their matching end, and
//! [`RECURSION_LIMIT`] levels of nesting.

/// How deeply messages may nest (prost's and protobuf's default limit).
pub(crate) const RECURSION_LIMIT: u32 = 100;

/// Protobuf wire types.
pub(crate) const VARINT: u8 = 0;
const FIXED64: u8 = 1;
pub(crate) const LENGTH_DELIMITED: u8 = 2;
const START_GROUP: u8 = 3;
const END_GROUP: u8 = 4;
const FIXED32: u8 = 5;

pub(crate) fn varint(buf: &mut &[u8]) -> Result<u64, &'static str> {
    let mut value = 0u64;
    for i in 0..10 {
        let (&byte, rest) = buf.split_first().ok_or("truncated varint")?;
        *buf = rest;
        // The tenth byte may only carry the 64th bit.
        if i == 9 && byte > 1 {
            return Err("invalid varint");
        }
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte < 0x80 {
            return Ok(value);
        }
    }
    Err("invalid varint")
}

/// A field's number and wire type (the checks of protobuf's decoders).
pub(crate) fn key(buf: &mut &[u8]) -> Result<(u32, u8), &'static str> {
    let key = u32::try_from(varint(buf)?).map_err(|_| "invalid key")?;
    let (field, wire) = (key >> 3, (key & 7) as u8);
    if wire > FIXED32 {
        return Err("invalid wire type");
    }
    if field == 0 {
        return Err("invalid field number 0");
    }
    Ok((field, wire))
}

pub(crate) fn take<'a>(buf: &mut &'a [u8], n: usize) -> Result<&'a [u8], &'static str> {
    if buf.len() < n {
        return Err("truncated field");
    }
    let (head, rest) = buf.split_at(n);
    *buf = rest;
    Ok(head)
}

pub(crate) fn length_delimited<'a>(buf: &mut &'a [u8], wire: u8) -> Result<&'a [u8], &'static str> {
    if wire != LENGTH_DELIMITED {
        return Err("invalid wire type for a message or bytes field");
    }
    let n = usize::try_from(varint(buf)?).map_err(|_| "truncated field")?;
    take(buf, n)
}

/// Skips a field the walk does not read; a group is skipped up to its end.
pub(crate) fn skip(buf: &mut &[u8], field: u32, wire: u8, depth: u32) -> Result<(), &'static str> {
    if depth >= RECURSION_LIMIT {
        return Err("recursion limit reached");
    }
    match wire {
        VARINT => varint(buf).map(drop),
        FIXED64 => take(buf, 8).map(drop),
        LENGTH_DELIMITED => length_delimited(buf, wire).map(drop),
        FIXED32 => take(buf, 4).map(drop),
        START_GROUP => loop {
            let (inner, inner_wire) = key(buf)?;
            if inner_wire == END_GROUP {
                return if inner == field {
                    Ok(())
                } else {
                    Err("unexpected end group")
                };
            }
            skip(buf, inner, inner_wire, depth + 1)?;
        },
        END_GROUP => Err("unexpected end group"),
        _ => Err("invalid wire type"),
    }
}
