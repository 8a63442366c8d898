/// Associated data binding a sealed value to its place: (tenant, table, row id, field).
///
/// A value sealed under one `Aad` only opens under the same `Aad`, so a ciphertext copied to
/// another tenant, table, row or field fails to decrypt. The encoding is unambiguous: every field
/// is length-prefixed, so `("ab", "c")` and `("a", "bc")` differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Aad<'a> {
    /// Tenant id.
    pub tenant: &'a str,
    /// Table (or collection) name.
    pub table: &'a str,
    /// Primary key of the row.
    pub row_id: &'a str,
    /// Column (or field) name.
    pub field: &'a str,
}

impl<'a> Aad<'a> {
    /// Builds an `Aad` from its four parts.
    pub const fn new(tenant: &'a str, table: &'a str, row_id: &'a str, field: &'a str) -> Self {
        Self {
            tenant,
            table,
            row_id,
            field,
        }
    }

    /// The canonical encoding: each field as `u64 big-endian length ‖ UTF-8 bytes`, in the order
    /// tenant, table, row id, field.
    pub fn to_bytes(&self) -> Vec<u8> {
        let parts = [self.tenant, self.table, self.row_id, self.field];
        let mut out = Vec::with_capacity(parts.iter().map(|p| 8 + p.len()).sum());
        for part in parts {
            out.extend_from_slice(&(part.len() as u64).to_be_bytes());
            out.extend_from_slice(part.as_bytes());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_is_length_prefixed() {
        let a = Aad::new("ab", "c", "r", "f").to_bytes();
        let b = Aad::new("a", "bc", "r", "f").to_bytes();
        assert_ne!(a, b);
        let c = Aad::new("t", "x", "", "y").to_bytes();
        let d = Aad::new("t", "", "x", "y").to_bytes();
        assert_ne!(c, d);
    }

    #[test]
    fn encoding_layout() {
        let bytes = Aad::new("t", "ab", "", "f").to_bytes();
        let mut expected = Vec::new();
        expected.extend_from_slice(&1u64.to_be_bytes());
        expected.extend_from_slice(b"t");
        expected.extend_from_slice(&2u64.to_be_bytes());
        expected.extend_from_slice(b"ab");
        expected.extend_from_slice(&0u64.to_be_bytes());
        expected.extend_from_slice(&1u64.to_be_bytes());
        expected.extend_from_slice(b"f");
        assert_eq!(bytes, expected);
    }
}
