//! HTTP/1.1 plumbing shared by both sides: the incremental header-block reader, token checks, plain responses.

use alloc::vec;
use alloc::vec::Vec;

use super::{HandshakeError, HandshakeLimits};
use crate::Status;

/// Strips leading and trailing spaces and tabs (HTTP "OWS").
pub(crate) fn trim(mut bytes: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = bytes {
        bytes = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = bytes {
        bytes = rest;
    }
    bytes
}

/// `tchar` of RFC 7230 §3.2.6 (the `token` of RFC 2616 §2.2 that RFC 6455 refers to).
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

/// `token = 1*tchar`.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_tchar)
}

/// A header value we are willing to write: no control bytes except HTAB (so no CR/LF injection).
pub(crate) fn is_field_value(s: &str) -> bool {
    s.bytes().all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

/// Appends `name: value\r\n`.
pub(crate) fn push_header(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// httparse errors, with httparse's own wording.
fn parse_error(error: httparse::Error, limits: &HandshakeLimits) -> HandshakeError {
    match error {
        httparse::Error::TooManyHeaders => HandshakeError::TooManyHeaders {
            limit: limits.max_headers,
        },
        httparse::Error::HeaderName => HandshakeError::Malformed("invalid header name"),
        httparse::Error::HeaderValue => HandshakeError::Malformed("invalid header value"),
        httparse::Error::NewLine => HandshakeError::Malformed("invalid new line"),
        httparse::Error::Status => HandshakeError::Malformed("invalid response status"),
        httparse::Error::Token => HandshakeError::Malformed("invalid token"),
        httparse::Error::Version => HandshakeError::Malformed("invalid HTTP version"),
    }
}

/// Header entries httparse gets on the stack: more than browsers send (about 15).
const STACK_HEADERS: usize = 32;

/// Runs `parse` with a scratch header array for httparse of `max_headers` entries, but never more than the block
/// could hold (a header line takes at least 3 bytes, `a:\n`), so a huge configured limit cannot make us allocate
/// a huge array. It first gets at most [`STACK_HEADERS`] entries on the stack; only a head with more fields than
/// that, under a limit that allows them, is parsed again with an array on the heap. httparse's errors come back
/// as [`parse_error`]s.
pub(crate) fn with_header_scratch<'b, T>(
    block: &'b [u8],
    limits: &HandshakeLimits,
    mut parse: impl FnMut(&mut [httparse::Header<'b>]) -> Result<T, httparse::Error>,
) -> Result<T, HandshakeError> {
    let most = limits.max_headers.min((block.len() / 3).saturating_add(1));
    let mut stack = [httparse::EMPTY_HEADER; STACK_HEADERS];
    match parse(&mut stack[..most.min(STACK_HEADERS)]) {
        Err(httparse::Error::TooManyHeaders) if most > STACK_HEADERS => {
            parse(&mut vec![httparse::EMPTY_HEADER; most])
        }
        other => other,
    }
    .map_err(|error| parse_error(error, limits))
}

/// Header fields of a parsed request or response, owned: (name as sent, raw value), in order.
///
/// Two allocations however many fields: the names and values are copied end to end into one
/// buffer, and each field is a pair of ranges into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fields {
    text: Vec<u8>,
    /// Per field: name start, value start, value end (the name ends where the value starts).
    spans: Vec<(usize, usize, usize)>,
}

impl Fields {
    /// Copies httparse's borrowed headers.
    pub(crate) fn own(headers: &[httparse::Header<'_>]) -> Self {
        let len = headers.iter().map(|h| h.name.len() + h.value.len()).sum();
        let mut text = Vec::with_capacity(len);
        let mut spans = Vec::with_capacity(headers.len());
        for h in headers {
            let name = text.len();
            text.extend_from_slice(h.name.as_bytes());
            let value = text.len();
            text.extend_from_slice(h.value);
            spans.push((name, value, text.len()));
        }
        Self { text, spans }
    }

    /// All fields in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.spans.iter().map(|&(name, value, end)| {
            // Names were httparse `&str`s (tokens), so this never falls back.
            let name = core::str::from_utf8(&self.text[name..value]).unwrap_or("");
            (name, &self.text[value..end])
        })
    }

    /// Values of every field named `name` (ASCII case-insensitive, RFC 6455 §4.1), in order.
    pub(crate) fn all<'a, 'n>(
        &'a self,
        name: &'n str,
    ) -> impl Iterator<Item = &'a [u8]> + use<'a, 'n> {
        self.spans
            .iter()
            .filter(move |&&(n, v, _)| self.text[n..v].eq_ignore_ascii_case(name.as_bytes()))
            .map(|&(_, v, end)| &self.text[v..end])
    }

    /// The first field named `name`.
    pub(crate) fn first(&self, name: &str) -> Option<&[u8]> {
        self.all(name).next()
    }

    /// The field named `name`, which may appear at most once (§11.3).
    pub(crate) fn single(&self, name: &'static str) -> Result<Option<&[u8]>, HandshakeError> {
        let mut values = self.all(name);
        let first = values.next();
        if values.next().is_some() {
            return Err(HandshakeError::DuplicateHeader(name));
        }
        Ok(first)
    }
}

/// The standard reason phrase for common status codes, `""` otherwise (an empty reason phrase is valid).
fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// Builds a plain HTTP/1.1 response, for a server that also serves plain HTTP on its WebSocket port (pages, `100
/// Continue`, ...). To refuse an upgrade request, return a [`Reject`](super::Reject) from the decision callback of
/// [`Request::answer`](super::Request::answer) instead: it is checked, then written by this function.
///
/// Writes the status line (with the standard reason phrase for common codes), `headers` in order, a computed
/// `Content-Length`, a blank line and `body`. Never produces malformed output:
/// - a `status` outside `100..=999` is replaced by 500;
/// - a header whose name is not a token or whose value holds a control byte other than HTAB (CR/LF injection) is
///   skipped, and so are caller `Content-Length` / `Transfer-Encoding` headers (the length is computed here);
/// - for 1xx, 204 and 304 no `Content-Length` and no body are written (RFC 9110 §8.6, RFC 9112 §6.3).
///
/// See [RFC 6455 §4.2.2](https://www.rfc-editor.org/rfc/rfc6455#section-4.2.2).
#[must_use]
pub fn http_response(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let status = if (100..=999).contains(&status) {
        status
    } else {
        500
    };
    let bodyless = status < 200 || status == 204 || status == 304;
    let header_len: usize = headers
        .iter()
        .map(|(n, v)| n.len().saturating_add(v.len()).saturating_add(4))
        .fold(0, usize::saturating_add);
    let mut out = Vec::with_capacity(header_len.saturating_add(64).saturating_add(if bodyless {
        0
    } else {
        body.len()
    }));
    out.extend_from_slice(
        alloc::format!("HTTP/1.1 {status} {}\r\n", reason_phrase(status)).as_bytes(),
    );
    for &(name, value) in headers {
        if !is_token(name)
            || !is_field_value(value)
            || name.eq_ignore_ascii_case("content-length")
            || name.eq_ignore_ascii_case("transfer-encoding")
        {
            continue;
        }
        push_header(&mut out, name, value);
    }
    if !bodyless {
        push_header(
            &mut out,
            "Content-Length",
            &alloc::format!("{}", body.len()),
        );
    }
    out.extend_from_slice(b"\r\n");
    if !bodyless {
        out.extend_from_slice(body);
    }
    out
}

/// What a side's parse step makes of a complete-looking header block: `None` if httparse still wants more,
/// otherwise the block's length and the (possibly failed) result. A failed result still keeps the bytes behind the
/// block as leftover (a non-101 response's body, for example).
pub(crate) type Parsed<T> = Option<(usize, Result<T, HandshakeError>)>;

#[derive(Debug)]
enum State {
    Reading,
    Done,
    Failed(HandshakeError),
}

/// Buffers a header block under [`HandshakeLimits`], finding its end incrementally.
///
/// Each byte is scanned O(1) times: the search for the blank line resumes 2 bytes before the previous end (the
/// pattern is at most 3 bytes), and httparse only runs when a blank line ends a non-empty block.
#[derive(Debug)]
pub(crate) struct HeadReader {
    limits: HandshakeLimits,
    buf: Vec<u8>,
    /// Where the next blank-line search starts.
    scan_from: usize,
    /// First byte that is not CR or LF: blank lines before it are skipped by httparse, not block ends.
    content_start: Option<usize>,
    leftover: Vec<u8>,
    state: State,
}

/// Finds the next blank line at or after `from`: a `\n` followed by `\n` or `\r\n`. Returns (start, end) where
/// `start` is the index of the first `\n` and `end` is just past the blank line. Bare `\n` line ends are matched
/// too because httparse accepts them.
fn find_blank_line(buf: &[u8], from: usize) -> Option<(usize, usize)> {
    let mut i = from;
    loop {
        let offset = buf.get(i..)?.iter().position(|&b| b == b'\n')?;
        let start = i.checked_add(offset)?;
        match (
            buf.get(start.saturating_add(1)),
            buf.get(start.saturating_add(2)),
        ) {
            (Some(b'\n'), _) => return Some((start, start.saturating_add(2))),
            (Some(b'\r'), Some(b'\n')) => return Some((start, start.saturating_add(3))),
            _ => i = start.saturating_add(1),
        }
    }
}

impl HeadReader {
    pub(crate) fn new(limits: HandshakeLimits) -> Self {
        Self {
            limits,
            buf: Vec::new(),
            scan_from: 0,
            content_start: None,
            leftover: Vec::new(),
            state: State::Reading,
        }
    }

    pub(crate) fn take_leftover(&mut self) -> Vec<u8> {
        core::mem::take(&mut self.leftover)
    }

    /// Feeds `data`; runs `parse` on each candidate header block.
    pub(crate) fn receive<T>(
        &mut self,
        data: &[u8],
        mut parse: impl FnMut(&[u8], &HandshakeLimits) -> Result<Parsed<T>, HandshakeError>,
    ) -> Result<Status<T>, HandshakeError> {
        match &self.state {
            State::Reading => {}
            State::Done => return Err(HandshakeError::Finished),
            State::Failed(error) => return Err(error.clone()),
        }
        // Never buffer more than the limit: the part of `data` that does not fit can only be leftover (bytes after
        // a block that completes within the limit), never part of the header block.
        let room = self.limits.max_bytes.saturating_sub(self.buf.len());
        let (now, overflow) = data.split_at(data.len().min(room));
        let old_len = self.buf.len();
        // The usual case, a whole head in one read, is parsed where it is, without copying it.
        let direct = old_len == 0;
        if !direct {
            self.buf.extend_from_slice(now);
        }
        let buf: &[u8] = if direct { now } else { &self.buf };
        if self.content_start.is_none() {
            if let Some(i) = now.iter().position(|&b| b != b'\r' && b != b'\n') {
                self.content_start = Some(old_len.saturating_add(i));
            }
        }
        let mut found = None;
        if let Some(content_start) = self.content_start {
            let mut from = self.scan_from.max(content_start);
            while let Some((start, end)) = find_blank_line(buf, from) {
                match parse(buf.get(..end).unwrap_or(buf), &self.limits) {
                    Ok(None) => from = start.saturating_add(1),
                    Ok(Some(block)) => {
                        found = Some(Ok(block));
                        break;
                    }
                    Err(error) => {
                        found = Some(Err(error));
                        break;
                    }
                }
            }
            self.scan_from = buf.len().saturating_sub(2).max(from);
        }
        match found {
            Some(Ok((len, result))) => {
                let mut leftover = buf.get(len..).unwrap_or_default().to_vec();
                leftover.extend_from_slice(overflow);
                self.leftover = leftover;
                self.buf = Vec::new();
                return match result {
                    Ok(value) => {
                        self.state = State::Done;
                        Ok(Status::Complete(value))
                    }
                    Err(error) => Err(self.fail(error)),
                };
            }
            Some(Err(error)) => return Err(self.fail(error)),
            None => {}
        }
        if direct {
            self.buf.extend_from_slice(now);
        }
        if self.buf.len() >= self.limits.max_bytes {
            return Err(self.fail(HandshakeError::TooLarge {
                limit: self.limits.max_bytes,
            }));
        }
        Ok(Status::Partial)
    }

    fn fail(&mut self, error: HandshakeError) -> HandshakeError {
        self.buf = Vec::new();
        self.state = State::Failed(error.clone());
        error
    }
}
