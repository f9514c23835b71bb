//! Conversions between LSP types and the protocol-free types of the rest of the
//! server. Nothing outside `src/lsp/` sees an LSP type.

use tower_lsp_server::ls_types::{self as lsp, PositionEncodingKind};

use crate::text::{PositionEncoding, TextPosition, TextRange};

/// The client's first choice among the encodings it offers, or UTF-16 when it
/// offers none (which is all an LSP client may then assume).
pub fn negotiate_encoding(offered: Option<&[PositionEncodingKind]>) -> PositionEncoding {
    offered
        .unwrap_or_default()
        .iter()
        .find_map(|kind| match kind.as_str() {
            "utf-8" => Some(PositionEncoding::Utf8),
            "utf-16" => Some(PositionEncoding::Utf16),
            "utf-32" => Some(PositionEncoding::Utf32),
            _ => None,
        })
        .unwrap_or(PositionEncoding::Utf16)
}

pub fn encoding_kind(encoding: PositionEncoding) -> PositionEncodingKind {
    match encoding {
        PositionEncoding::Utf8 => PositionEncodingKind::UTF8,
        PositionEncoding::Utf16 => PositionEncodingKind::UTF16,
        PositionEncoding::Utf32 => PositionEncodingKind::UTF32,
    }
}

pub fn position(position: lsp::Position) -> TextPosition {
    TextPosition::new(position.line, position.character)
}

pub fn range(range: lsp::Range) -> TextRange {
    TextRange::new(position(range.start), position(range.end))
}

pub fn lsp_position(position: TextPosition) -> lsp::Position {
    lsp::Position::new(position.line, position.character)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_clients_first_supported_choice() {
        let offered = [
            PositionEncodingKind::new("utf-7"),
            PositionEncodingKind::UTF32,
            PositionEncodingKind::UTF8,
        ];
        assert_eq!(negotiate_encoding(Some(&offered)), PositionEncoding::Utf32);
        assert_eq!(negotiate_encoding(None), PositionEncoding::Utf16);
        assert_eq!(negotiate_encoding(Some(&[])), PositionEncoding::Utf16);
        let helix = [
            PositionEncodingKind::UTF8,
            PositionEncodingKind::UTF32,
            PositionEncodingKind::UTF16,
        ];
        assert_eq!(negotiate_encoding(Some(&helix)), PositionEncoding::Utf8);
    }
}
