//! `Sec-WebSocket-Extensions` values (§9.1 grammar).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use super::http::{is_field_value, is_tchar, is_token};
use super::HandshakeError;

/// One offered or accepted extension from a `Sec-WebSocket-Extensions` header: its name and its parameters
/// (`name` or `name=value`; quoted values are stored unescaped).
///
/// `Display` serializes it back, e.g. `permessage-deflate; client_max_window_bits=10`.
///
/// See [RFC 6455 §9.1](https://www.rfc-editor.org/rfc/rfc6455#section-9.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extension {
    /// The extension token, e.g. `permessage-deflate`.
    pub name: String,
    /// Parameters in order: `(name, None)` for a bare `name`, `(name, Some(value))` for `name=value`.
    pub params: Vec<(String, Option<String>)>,
}

impl Extension {
    /// An extension without parameters.
    ///
    /// See [RFC 6455 §9.1](https://www.rfc-editor.org/rfc/rfc6455#section-9.1).
    #[must_use]
    pub fn new(name: &str) -> Self {
        Self {
            name: String::from(name),
            params: Vec::new(),
        }
    }

    /// Adds a parameter (`value: None` for a bare flag).
    ///
    /// See [RFC 6455 §9.1](https://www.rfc-editor.org/rfc/rfc6455#section-9.1).
    #[must_use]
    pub fn param(mut self, name: &str, value: Option<&str>) -> Self {
        self.params
            .push((String::from(name), value.map(String::from)));
        self
    }

    /// Can this be written into a header without breaking it? Names must be tokens; values must be writable as a
    /// token or a quoted-string (no control bytes).
    pub(crate) fn is_writable(&self) -> bool {
        is_token(&self.name)
            && self.params.iter().all(|(name, value)| {
                is_token(name)
                    && value
                        .as_deref()
                        .is_none_or(|v| is_field_value(v) && !v.contains('\t'))
            })
    }
}

impl fmt::Display for Extension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        for (name, value) in &self.params {
            write!(f, "; {name}")?;
            match value {
                None => {}
                Some(value) if is_token(value) => write!(f, "={value}")?,
                Some(value) => {
                    f.write_str("=\"")?;
                    for c in value.chars() {
                        if c == '"' || c == '\\' {
                            f.write_str("\\")?;
                        }
                        write!(f, "{c}")?;
                    }
                    f.write_str("\"")?;
                }
            }
        }
        Ok(())
    }
}

/// Joins extensions as one header value: `a; x=1, b`.
pub(crate) fn join(extensions: &[Extension]) -> String {
    let mut out = String::new();
    for (i, extension) in extensions.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&alloc::format!("{extension}"));
    }
    out
}

/// A cursor over a header value.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn bump(&mut self) {
        self.pos = self.pos.saturating_add(1);
    }

    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.bump();
        }
    }

    fn eat(&mut self, byte: u8) -> bool {
        if self.peek() == Some(byte) {
            self.bump();
            true
        } else {
            false
        }
    }

    /// `token = 1*tchar`, returned as a String (tchars are ASCII).
    fn token(&mut self) -> Result<String, HandshakeError> {
        let mut out = String::new();
        while let Some(b) = self.peek().filter(|&b| is_tchar(b)) {
            out.push(char::from(b));
            self.bump();
        }
        if out.is_empty() {
            Err(HandshakeError::BadExtensionHeader)
        } else {
            Ok(out)
        }
    }

    /// `quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE`, unescaped. The opening quote is already eaten.
    fn quoted_rest(&mut self) -> Result<String, HandshakeError> {
        let mut out = String::new();
        loop {
            let b = self.peek().ok_or(HandshakeError::BadExtensionHeader)?;
            self.bump();
            match b {
                b'"' => return Ok(out),
                b'\\' => {
                    let escaped = self.peek().ok_or(HandshakeError::BadExtensionHeader)?;
                    self.bump();
                    out.push(ascii_char(escaped)?);
                }
                _ => out.push(ascii_char(b)?),
            }
        }
    }
}

/// Printable ASCII or a space (anything else cannot end up in a token, which the value must be after unescaping).
fn ascii_char(b: u8) -> Result<char, HandshakeError> {
    if (0x20..0x7f).contains(&b) {
        Ok(char::from(b))
    } else {
        Err(HandshakeError::BadExtensionHeader)
    }
}

/// Parses one `Sec-WebSocket-Extensions` value (`extension-list = 1#extension`, §9.1) into its extensions, in order.
///
/// Optional whitespace around `,`, `;` and `=` is allowed, and so are empty list elements (`a, , b`), but at least
/// one extension must be present. Quoted parameter values are unescaped. Anything else is
/// [`HandshakeError::BadExtensionHeader`].
///
/// See [RFC 6455 §9.1](https://www.rfc-editor.org/rfc/rfc6455#section-9.1).
pub fn parse_extensions(value: &str) -> Result<Vec<Extension>, HandshakeError> {
    let mut cursor = Cursor {
        bytes: value.as_bytes(),
        pos: 0,
    };
    let mut extensions = Vec::new();
    loop {
        cursor.skip_ows();
        if cursor.eat(b',') {
            continue;
        }
        if cursor.peek().is_none() {
            break;
        }
        let mut extension = Extension::new(&cursor.token()?);
        loop {
            cursor.skip_ows();
            if !cursor.eat(b';') {
                break;
            }
            cursor.skip_ows();
            let name = cursor.token()?;
            cursor.skip_ows();
            let value = if cursor.eat(b'=') {
                cursor.skip_ows();
                if cursor.eat(b'"') {
                    let unquoted = cursor.quoted_rest()?;
                    // §9.1: "When using the quoted-string syntax variant, the value after quoted-string unescaping
                    // MUST conform to the 'token' ABNF."
                    if !is_token(&unquoted) {
                        return Err(HandshakeError::BadExtensionHeader);
                    }
                    Some(unquoted)
                } else {
                    Some(cursor.token()?)
                }
            } else {
                None
            };
            extension.params.push((name, value));
        }
        extensions.push(extension);
        cursor.skip_ows();
        match cursor.peek() {
            None => break,
            Some(b',') => cursor.bump(),
            Some(_) => return Err(HandshakeError::BadExtensionHeader),
        }
    }
    // §9.1: "If a value is received by either the client or the server during negotiation that does not conform
    // to the ABNF below, the recipient of such malformed data MUST immediately _Fail the WebSocket Connection_."
    // (`extension-list = 1#extension`: at least one.)
    if extensions.is_empty() {
        return Err(HandshakeError::BadExtensionHeader);
    }
    Ok(extensions)
}

/// Parses every `Sec-WebSocket-Extensions` header value, concatenated in order (§9.1: several headers are "exactly
/// equivalent" to one with all values).
pub(crate) fn parse_all<'a>(
    values: impl Iterator<Item = &'a [u8]>,
) -> Result<Vec<Extension>, HandshakeError> {
    let mut all = Vec::new();
    for value in values {
        let value = core::str::from_utf8(value).map_err(|_| HandshakeError::BadExtensionHeader)?;
        all.extend(parse_extensions(value)?);
    }
    Ok(all)
}
