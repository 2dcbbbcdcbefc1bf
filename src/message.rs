//! Application-level data: messages (RFC 6455 §5.6) and, for streaming, data frames.

use alloc::string::String;
use alloc::vec::Vec;
use bytes::Bytes;

/// The kind of a data message (RFC 6455 §5.6): text (UTF-8) or binary.
///
/// See [RFC 6455 §5.6](https://www.rfc-editor.org/rfc/rfc6455#section-5.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataKind {
    /// Opcode 0x1: "The 'Payload data' is text data encoded as UTF-8."
    Text,
    /// Opcode 0x2: "The 'Payload data' is arbitrary binary data."
    Binary,
}

/// UTF-8 text that shares its storage with the buffer it was received in (no copy).
///
/// The bytes are checked once, when the text is made; [`as_str`](Self::as_str) costs nothing.
#[derive(Clone, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Text(Bytes);

impl Text {
    /// Wraps bytes that are UTF-8; gives them back if they are not.
    pub fn from_utf8(bytes: Bytes) -> Result<Self, Bytes> {
        match core::str::from_utf8(&bytes) {
            Ok(_) => Ok(Self(bytes)),
            Err(_) => Err(bytes),
        }
    }

    /// Text from a `&'static str`, without copying.
    pub const fn from_static(s: &'static str) -> Self {
        Self(Bytes::from_static(s.as_bytes()))
    }

    /// Wraps bytes that the caller has already validated as UTF-8 (the connection's
    /// incremental validator). Checked again in debug builds.
    pub(crate) fn from_validated(bytes: Bytes) -> Self {
        debug_assert!(core::str::from_utf8(&bytes).is_ok());
        Self(bytes)
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        crate::unchecked::str_from_validated_utf8(&self.0)
    }

    /// The UTF-8 bytes, shared.
    pub fn as_bytes(&self) -> &Bytes {
        &self.0
    }

    /// The UTF-8 bytes, shared.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }
}

impl core::ops::Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<[u8]> for Text {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl From<String> for Text {
    fn from(s: String) -> Self {
        Self(Bytes::from(s.into_bytes()))
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Self {
        Self(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl From<Text> for String {
    fn from(t: Text) -> Self {
        Self::from(t.as_str())
    }
}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl core::fmt::Debug for Text {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl core::fmt::Display for Text {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A complete data message, reassembled from its fragments (RFC 6455 §5.4, §5.6).
///
/// Payloads are [`Bytes`]: a message that arrived in one frame is handed out as a slice of the
/// connection's read buffer, without a copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message; its UTF-8 was validated as it arrived (§8.1).
    Text(Text),
    /// A binary message.
    Binary(Bytes),
}

impl Message {
    /// A text message.
    pub fn text(text: impl Into<Text>) -> Self {
        Self::Text(text.into())
    }

    /// A binary message.
    pub fn binary(data: impl Into<Bytes>) -> Self {
        Self::Binary(data.into())
    }

    /// Text or binary.
    pub fn kind(&self) -> DataKind {
        match self {
            Self::Text(_) => DataKind::Text,
            Self::Binary(_) => DataKind::Binary,
        }
    }

    /// The payload bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Text(t) => t.as_bytes(),
            Self::Binary(b) => b,
        }
    }

    /// The payload bytes, shared.
    pub fn into_bytes(self) -> Bytes {
        match self {
            Self::Text(t) => t.into_bytes(),
            Self::Binary(b) => b,
        }
    }

    /// The text, if this is a text message.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Self::Text(t) => Some(t.as_str()),
            Self::Binary(_) => None,
        }
    }

    /// The payload length in bytes.
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl From<String> for Message {
    fn from(s: String) -> Self {
        Self::Text(s.into())
    }
}

impl From<&str> for Message {
    fn from(s: &str) -> Self {
        Self::Text(s.into())
    }
}

impl From<Vec<u8>> for Message {
    fn from(v: Vec<u8>) -> Self {
        Self::Binary(v.into())
    }
}

impl From<&[u8]> for Message {
    fn from(v: &[u8]) -> Self {
        Self::Binary(Bytes::copy_from_slice(v))
    }
}

impl From<Bytes> for Message {
    fn from(v: Bytes) -> Self {
        Self::Binary(v)
    }
}

/// One data frame of a message, for applications that consume large messages as they arrive
/// instead of buffered whole (see [`Config::stream_frames`](crate::Config::stream_frames)).
///
/// Text frames have been UTF-8-validated up to their end; a multi-byte sequence may still be
/// split between this frame and the next (§5.6 allows it), so `data` is bytes, not text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFrame {
    /// The kind of the message this frame belongs to.
    pub kind: DataKind,
    /// Whether this is the message's first frame.
    pub first: bool,
    /// Whether this is the message's last frame (FIN).
    pub fin: bool,
    /// The (unmasked) payload of this frame.
    pub data: Bytes,
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::{format, vec};

    #[test]
    fn text_is_only_made_from_utf8() {
        // §5.6: a text message is UTF-8; `Text` holds nothing else.
        let ok = Text::from_utf8(Bytes::from_static("ünï".as_bytes())).unwrap();
        assert_eq!(ok, "ünï");
        assert_eq!(
            Text::from_utf8(Bytes::from_static(b"\xff")),
            Err(Bytes::from_static(b"\xff"))
        );
    }

    #[test]
    fn text_reads_as_its_str_and_its_bytes() {
        let t = Text::from_static("héllo");
        assert_eq!(t.as_str(), "héllo");
        assert_eq!(&*t, "héllo");
        assert_eq!(AsRef::<str>::as_ref(&t), "héllo");
        assert_eq!(AsRef::<[u8]>::as_ref(&t), "héllo".as_bytes());
        assert_eq!(t.as_bytes(), "héllo".as_bytes());
        assert!(t == *"héllo" && t != *"hello" && t == "héllo" && t != "hello");
        assert_eq!(format!("{t}"), "héllo");
        assert_eq!(String::from(t.clone()), "héllo");
        assert_eq!(t.into_bytes(), "héllo".as_bytes());
        assert_eq!(Text::from(String::from("a")), "a");
        assert_eq!(Text::from("b"), "b");
    }

    #[test]
    fn a_message_tells_its_kind_its_text_and_its_length() {
        let text = Message::text("héllo");
        assert_eq!(text.kind(), DataKind::Text);
        assert_eq!(text.as_text(), Some("héllo"));
        assert_eq!(text.as_bytes(), "héllo".as_bytes());
        assert_eq!(text.len(), 6);
        assert!(!text.is_empty());
        assert_eq!(text.into_bytes(), "héllo".as_bytes());

        let binary = Message::binary(vec![1, 2, 3]);
        assert_eq!(binary.kind(), DataKind::Binary);
        assert_eq!(binary.as_text(), None);
        assert_eq!(binary.as_bytes(), [1, 2, 3]);
        assert_eq!(binary.len(), 3);
        assert_eq!(binary.into_bytes(), [1, 2, 3].as_slice());
        assert!(Message::binary(Vec::new()).is_empty());
        assert!(Message::text("").is_empty());
    }

    #[test]
    fn strings_become_text_messages_and_bytes_binary_ones() {
        assert_eq!(Message::from(String::from("a")), Message::text("a"));
        assert_eq!(Message::from("a"), Message::text("a"));
        assert_eq!(Message::from(vec![1u8]), Message::binary(vec![1u8]));
        assert_eq!(Message::from([1u8].as_slice()), Message::binary(vec![1u8]));
        assert_eq!(
            Message::from(Bytes::from_static(&[1])),
            Message::binary(vec![1u8])
        );
    }
}
