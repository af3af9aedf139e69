//! Server-sent events, read from a byte stream that arrives in arbitrary chunks: an event may
//! be split anywhere (inside a line, inside a UTF-8 character, between `\r` and `\n`).
//! Only what chat APIs use is kept: the `event:` name and the `data:` lines.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field; `None` for the default `message` type.
    pub event: Option<String>,
    /// The `data:` lines, joined with `\n`.
    pub data: String,
}

/// Turns chunks into events. Bytes stay bytes until a whole line is in, so a multi-byte
/// character split across chunks decodes intact.
#[derive(Debug, Default)]
pub struct SseParser {
    line: Vec<u8>,
    /// The previous chunk ended in `\r`: a `\n` starting the next one belongs to that line end.
    after_cr: bool,
    event: Option<String>,
    data: Option<String>,
}

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one chunk; returns the events it completed.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        let mut events = Vec::new();
        for &byte in chunk {
            let after_cr = std::mem::take(&mut self.after_cr);
            match byte {
                b'\n' if after_cr => {}
                b'\n' | b'\r' => {
                    self.after_cr = byte == b'\r';
                    let line = std::mem::take(&mut self.line);
                    if let Some(event) = self.line_done(&line) {
                        events.push(event);
                    }
                }
                _ => self.line.push(byte),
            }
        }
        events
    }

    /// The end of the stream: an event whose closing blank line never came is still
    /// delivered (some servers close right after the last `data:` line).
    pub fn finish(&mut self) -> Option<SseEvent> {
        let line = std::mem::take(&mut self.line);
        if !line.is_empty() {
            self.line_done(&line);
        }
        self.dispatch()
    }

    fn line_done(&mut self, line: &[u8]) -> Option<SseEvent> {
        if line.is_empty() {
            return self.dispatch();
        }
        let line = String::from_utf8_lossy(line);
        let (field, value) = match line.split_once(':') {
            // A comment (`: keep-alive`).
            Some(("", _)) => return None,
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line.as_ref(), ""),
        };
        match field {
            "data" => match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.data = Some(value.to_owned()),
            },
            "event" => self.event = Some(value.to_owned()),
            // `id` and `retry` matter for reconnecting browsers, not for one chat answer.
            _ => {}
        }
        None
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        let event = self.event.take();
        let data = self.data.take()?;
        Some(SseEvent { event, data })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(text: &str) -> SseEvent {
        SseEvent {
            event: None,
            data: text.to_owned(),
        }
    }

    fn feed_in_pieces(text: &[u8], size: usize) -> Vec<SseEvent> {
        let mut parser = SseParser::new();
        let mut events: Vec<SseEvent> = text.chunks(size).flat_map(|piece| parser.feed(piece)).collect();
        events.extend(parser.finish());
        events
    }

    #[test]
    fn events_split_at_every_byte_come_out_whole() {
        let text = "event: message_start\ndata: {\"a\":1}\n\n: ping\ndata: second\n\n".as_bytes();
        let expected = vec![
            SseEvent {
                event: Some("message_start".into()),
                data: "{\"a\":1}".into(),
            },
            data("second"),
        ];
        for size in 1..text.len() {
            assert_eq!(feed_in_pieces(text, size), expected, "chunk size {size}");
        }
    }

    #[test]
    fn crlf_and_cr_line_ends_split_between_chunks() {
        let text = b"data: one\r\n\r\ndata: two\r\rdata: three\n\n";
        for size in 1..text.len() {
            assert_eq!(
                feed_in_pieces(text, size),
                vec![data("one"), data("two"), data("three")],
                "chunk size {size}"
            );
        }
    }

    #[test]
    fn multibyte_characters_split_across_chunks_decode_intact() {
        let text = "data: héllo → 世界\n\n".as_bytes();
        for size in 1..text.len() {
            assert_eq!(feed_in_pieces(text, size), vec![data("héllo → 世界")]);
        }
    }

    #[test]
    fn data_lines_join_and_a_missing_space_or_value_is_accepted() {
        let events = feed_in_pieces(b"data:first\ndata\ndata: third\n\n", 7);
        assert_eq!(events, vec![data("first\n\nthird")]);
    }

    #[test]
    fn an_event_without_data_is_not_dispatched_and_its_name_does_not_leak() {
        let events = feed_in_pieces(b"event: ping\n\ndata: x\n\n", 3);
        assert_eq!(events, vec![data("x")]);
    }

    #[test]
    fn the_last_event_is_delivered_without_a_closing_blank_line() {
        assert_eq!(feed_in_pieces(b"data: [DONE]", 4), vec![data("[DONE]")]);
        assert_eq!(feed_in_pieces(b"data: [DONE]\n", 4), vec![data("[DONE]")]);
    }
}
