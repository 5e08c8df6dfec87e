//! Splitting files into ASCII-armor blocks, tolerantly.
//!
//! Real KEYS files are not UTF-8 (Latin-1 comments between blocks), indent lines, and leave
//! spaces after END lines; rPGP's armor reader refuses some of that and reads only the first
//! block of a file. So each block is cut out here and normalised: whitespace trimmed from every
//! line, armor headers (`Version:`, `Comment:` — which may be Latin-1) dropped, and the blank
//! line after BEGIN guaranteed.

/// The kind of armored data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    PublicKey,
    Signature,
}

impl BlockKind {
    fn label(self) -> &'static [u8] {
        match self {
            BlockKind::PublicKey => b"PGP PUBLIC KEY BLOCK",
            BlockKind::Signature => b"PGP SIGNATURE",
        }
    }
}

fn trim(mut line: &[u8]) -> &[u8] {
    while let [rest @ .., b' ' | b'\t' | b'\r'] = line {
        line = rest;
    }
    while let [b' ' | b'\t', rest @ ..] = line {
        line = rest;
    }
    line
}

fn marker(edge: &[u8], kind: BlockKind) -> Vec<u8> {
    [b"-----".as_slice(), edge, b" ", kind.label(), b"-----"].concat()
}

/// Every complete block of `kind` in `data`, normalised. A block without its END line is dropped.
pub fn split_blocks(data: &[u8], kind: BlockKind) -> Vec<Vec<u8>> {
    let begin = marker(b"BEGIN", kind);
    let end = marker(b"END", kind);
    let mut blocks = Vec::new();
    // The block being read, and whether we are still in its armor headers.
    let mut current: Option<(Vec<u8>, bool)> = None;
    for line in data.split(|&b| b == b'\n').map(trim) {
        match current.as_mut() {
            None if line == begin.as_slice() => {
                let mut block = begin.clone();
                block.push(b'\n');
                current = Some((block, true));
            }
            None => {}
            Some((block, _)) if line == end.as_slice() => {
                block.extend_from_slice(&end);
                block.push(b'\n');
                blocks.push(std::mem::take(block));
                current = None;
            }
            Some((block, in_headers)) => {
                if *in_headers {
                    if line.contains(&b':') {
                        continue; // an armor header: dropped
                    }
                    *in_headers = false;
                    block.push(b'\n');
                    if line.is_empty() {
                        continue;
                    }
                }
                block.extend_from_slice(line);
                block.push(b'\n');
            }
        }
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_latin1_headers_indentation_and_trailing_spaces() {
        let data = b"junk \xe9\n  -----BEGIN PGP PUBLIC KEY BLOCK-----  \r\nComment: Andr\xe9\r\n\r\n  AAAA \r\n=crc\n-----END PGP PUBLIC KEY BLOCK-----   \ntrailing\n";
        let blocks = split_blocks(data, BlockKind::PublicKey);
        assert_eq!(blocks.len(), 1);
        assert_eq!(
            String::from_utf8(blocks[0].clone()).unwrap(),
            "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n=crc\n-----END PGP PUBLIC KEY BLOCK-----\n"
        );
    }

    #[test]
    fn inserts_the_missing_blank_line_and_drops_unterminated_blocks() {
        let data =
            b"-----BEGIN PGP SIGNATURE-----\nAAAA\n-----END PGP SIGNATURE-----\n-----BEGIN PGP SIGNATURE-----\nBBBB\n";
        let blocks = split_blocks(data, BlockKind::Signature);
        assert_eq!(blocks, vec![b"-----BEGIN PGP SIGNATURE-----\n\nAAAA\n-----END PGP SIGNATURE-----\n".to_vec()]);
        assert!(split_blocks(data, BlockKind::PublicKey).is_empty());
    }
}
