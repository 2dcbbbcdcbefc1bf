//! Close codes and the Close frame's payload (RFC 6455 §5.5.1, §7.4).

use alloc::string::String;

use crate::error::ProtocolError;
use crate::utf8;

/// A status code carried by a Close frame (RFC 6455 §7.4).
///
/// A newtype rather than an enum, so that every `u16` can be represented and compared (codes
/// in 3000-4999 belong to libraries and applications) while the codes defined by the RFC and
/// registered with IANA have names.
///
/// See [RFC 6455 §7.4](https://www.rfc-editor.org/rfc/rfc6455#section-7.4).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CloseCode(pub u16);

macro_rules! close_codes {
    ($($(#[$doc:meta])* $name:ident = $value:expr, $text:expr;)*) => {
        impl CloseCode {
            $($(#[$doc])* pub const $name: Self = Self($value);)*

            /// The name of a code defined by RFC 6455 or registered with IANA.
            pub const fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($value => Some($text),)*
                    _ => None,
                }
            }
        }
    };
}

close_codes! {
    /// 1000: normal closure; the purpose of the connection has been fulfilled.
    NORMAL = 1000, "normal closure";
    /// 1001: an endpoint is going away (server shutting down, page navigated away).
    GOING_AWAY = 1001, "going away";
    /// 1002: an endpoint is terminating the connection due to a protocol error.
    PROTOCOL_ERROR = 1002, "protocol error";
    /// 1003: an endpoint received a type of data it cannot accept.
    UNSUPPORTED_DATA = 1003, "unsupported data";
    /// 1005: reserved; means "no status code was present". MUST NOT be sent (§7.4.1).
    NO_STATUS = 1005, "no status received";
    /// 1006: reserved; means "closed abnormally, without a Close frame". MUST NOT be sent.
    ABNORMAL = 1006, "abnormal closure";
    /// 1007: a message's data was not consistent with its type (e.g. invalid UTF-8 in text).
    INVALID_PAYLOAD = 1007, "invalid frame payload data";
    /// 1008: a message violates the endpoint's policy.
    POLICY_VIOLATION = 1008, "policy violation";
    /// 1009: a message is too big to process.
    MESSAGE_TOO_BIG = 1009, "message too big";
    /// 1010: the client expected the server to negotiate an extension it did not.
    MANDATORY_EXTENSION = 1010, "mandatory extension";
    /// 1011: the server met an unexpected condition.
    INTERNAL_ERROR = 1011, "internal error";
    /// 1012: the service is restarting (IANA registry).
    SERVICE_RESTART = 1012, "service restart";
    /// 1013: try again later (IANA registry).
    TRY_AGAIN_LATER = 1013, "try again later";
    /// 1014: bad gateway (IANA registry).
    BAD_GATEWAY = 1014, "bad gateway";
    /// 1015: reserved; the TLS handshake failed. MUST NOT be sent.
    TLS_HANDSHAKE = 1015, "tls handshake failure";
}

impl CloseCode {
    /// Whether the code may appear in a Close frame on the wire (§7.4.1, §7.4.2): 1000-1003,
    /// 1007-1014 (defined by the RFC or registered with IANA), and 3000-4999 (libraries,
    /// frameworks, applications). 1004-1006, 1015, the rest of 0-2999 and 5000 and above are not.
    ///
    /// A received Close frame with any other code fails the connection with 1002.
    pub const fn is_valid_on_wire(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

impl From<u16> for CloseCode {
    fn from(code: u16) -> Self {
        Self(code)
    }
}

impl From<CloseCode> for u16 {
    fn from(code: CloseCode) -> Self {
        code.0
    }
}

impl core::fmt::Debug for CloseCode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.name() {
            Some(name) => write!(f, "CloseCode({} {name})", self.0),
            None => write!(f, "CloseCode({})", self.0),
        }
    }
}

impl core::fmt::Display for CloseCode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{} ({name})", self.0),
            None => write!(f, "{}", self.0),
        }
    }
}

pub(crate) const MAX_REASON_LEN: usize = CloseFrame::MAX_REASON_LEN;

/// The payload of a Close frame that carries a status code (RFC 6455 §5.5.1).
///
/// A Close frame with an empty payload has no `CloseFrame`: its status is "no status received"
/// (1005, §7.1.5), which is why the connection reports `Option<CloseFrame>`.
///
/// See [RFC 6455 §5.5.1](https://www.rfc-editor.org/rfc/rfc6455#section-5.5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    /// The status code (§7.4).
    pub code: CloseCode,
    /// The reason, UTF-8, at most [`MAX_REASON_LEN`](Self::MAX_REASON_LEN) bytes on the wire.
    pub reason: String,
}

impl CloseFrame {
    /// The longest close reason that fits a control frame: 125 bytes minus the 2-byte code
    /// (§5.5: "All control frames MUST have a payload length of 125 bytes or less").
    pub const MAX_REASON_LEN: usize = 123;

    /// A close frame with a code and a reason.
    pub fn new(code: CloseCode, reason: impl Into<String>) -> Self {
        Self {
            code,
            reason: reason.into(),
        }
    }

    /// Parses a received Close frame's (unmasked) payload.
    ///
    /// §5.5.1: "If there is a body, the first two bytes of the body MUST be a 2-byte unsigned
    /// integer (in network byte order) representing a status code", followed by UTF-8 data.
    /// An empty payload is `Ok(None)`; one byte is [`ProtocolError::CloseTooShort`]; a code that
    /// may not be sent is [`ProtocolError::InvalidCloseCode`] (both 1002); a reason that is not
    /// UTF-8 is [`ProtocolError::InvalidUtf8`] (1007).
    pub fn decode(payload: &[u8]) -> Result<Option<Self>, ProtocolError> {
        match payload {
            [] => Ok(None),
            [_] => Err(ProtocolError::CloseTooShort),
            [hi, lo, reason @ ..] => {
                let code = CloseCode(u16::from_be_bytes([*hi, *lo]));
                if !code.is_valid_on_wire() {
                    return Err(ProtocolError::InvalidCloseCode(code.0));
                }
                utf8::validate(reason).map_err(|_| ProtocolError::InvalidUtf8)?;
                let reason = String::from_utf8_lossy(reason).into_owned();
                Ok(Some(Self { code, reason }))
            }
        }
    }
}

impl core::fmt::Display for CloseFrame {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if self.reason.is_empty() {
            write!(f, "{}", self.code)
        } else {
            write!(f, "{}: {}", self.code, self.reason)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_valid_on_the_wire_follow_section_7_4() {
        for code in 0..=u16::MAX {
            let expected = matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999);
            assert_eq!(CloseCode(code).is_valid_on_wire(), expected, "{code}");
        }
    }

    #[test]
    fn a_close_payload_of_one_byte_is_a_protocol_error() {
        assert_eq!(CloseFrame::decode(&[3]), Err(ProtocolError::CloseTooShort));
    }

    #[test]
    fn a_close_reason_must_be_utf8() {
        assert_eq!(
            CloseFrame::decode(&[0x03, 0xe8, 0xff]),
            Err(ProtocolError::InvalidUtf8)
        );
        assert_eq!(
            CloseFrame::decode(&[0x03, 0xe8, b'o', b'k']),
            Ok(Some(CloseFrame::new(CloseCode::NORMAL, "ok")))
        );
    }

    #[test]
    fn a_close_code_displays_its_number_and_its_registered_name() {
        assert_eq!(
            alloc::format!("{}", CloseCode::GOING_AWAY),
            "1001 (going away)"
        );
        assert_eq!(alloc::format!("{}", CloseCode(4000)), "4000");
    }

    #[test]
    fn a_close_frame_displays_its_code_and_its_reason() {
        let frame = CloseFrame::new(CloseCode(4000), "bye");
        assert_eq!(alloc::format!("{frame}"), "4000: bye");
        let frame = CloseFrame::new(CloseCode::NORMAL, "");
        assert_eq!(alloc::format!("{frame}"), "1000 (normal closure)");
    }
}
