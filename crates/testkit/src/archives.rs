//! Archives built by the tests, hostile ones included: raw tar headers (so that `..`, absolute
//! names and escaping links go in unchecked), zips, truncated streams and compression bombs.

use std::fs::File;
use std::io::{Cursor, Write};
use std::path::Path;

use flate2::Compression;
use flate2::write::{DeflateEncoder, GzEncoder};

pub const MIB: usize = 1 << 20;

/// One tar entry as written raw, so that unsafe names and links go in unchecked.
#[derive(Debug, Clone, Copy)]
pub enum Entry<'a> {
    Dir(&'a str),
    File(&'a str, &'a [u8]),
    Symlink(&'a str, &'a str),
    HardLink(&'a str, &'a str),
}

pub fn raw_header(path: &str, kind: tar::EntryType, size: u64, link: Option<&str>) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    {
        let old = header.as_old_mut();
        old.name[..path.len()].copy_from_slice(path.as_bytes());
        if let Some(link) = link {
            old.linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
    }
    header.set_entry_type(kind);
    header.set_size(size);
    header.set_mode(if kind == tar::EntryType::Directory { 0o755 } else { 0o644 });
    header.set_mtime(1_700_000_000);
    header.set_cksum();
    header
}

pub fn tar_bytes(entries: &[Entry<'_>]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        let (header, data): (tar::Header, &[u8]) = match entry {
            Entry::Dir(path) => (raw_header(path, tar::EntryType::Directory, 0, None), &[]),
            Entry::File(path, data) => (raw_header(path, tar::EntryType::Regular, data.len() as u64, None), data),
            Entry::Symlink(path, target) => (raw_header(path, tar::EntryType::Symlink, 0, Some(target)), &[]),
            Entry::HardLink(path, target) => (raw_header(path, tar::EntryType::Link, 0, Some(target)), &[]),
        };
        builder.append(&header, data).expect("append");
    }
    builder.into_inner().expect("tar")
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).expect("gzip");
    encoder.finish().expect("gzip")
}

pub fn zip_bytes(files: &[(&str, &[u8])], method: zip::CompressionMethod) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(method);
    for (name, data) in files {
        writer.start_file(*name, options).expect("start");
        writer.write_all(data).expect("write");
    }
    writer.finish().expect("finish").into_inner()
}

/// A gzip stream assembled from independently compressed, fully flushed deflate segments, so a
/// segment of zeros can be repeated: 10 GIB of tar costs a few MB and no time to build.
#[derive(Debug)]
pub struct GzipBomb {
    out: Vec<u8>,
    crc: crc32fast::Hasher,
    size: u64,
}

impl Default for GzipBomb {
    fn default() -> Self {
        Self::new()
    }
}

impl GzipBomb {
    pub fn new() -> Self {
        Self { out: vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff], crc: crc32fast::Hasher::new(), size: 0 }
    }

    fn segment(data: &[u8]) -> Vec<u8> {
        let mut encoder = DeflateEncoder::new(Vec::new(), Compression::best());
        encoder.write_all(data).expect("deflate");
        encoder.flush().expect("flush");
        encoder.get_ref().clone()
    }

    pub fn push_repeated(&mut self, data: &[u8], times: u64) {
        let segment = Self::segment(data);
        let mut crc = crc32fast::Hasher::new();
        crc.update(data);
        for _ in 0..times {
            self.out.extend_from_slice(&segment);
            self.crc.combine(&crc);
        }
        self.size += data.len() as u64 * times;
    }

    pub fn push(&mut self, data: &[u8]) {
        self.push_repeated(data, 1);
    }

    pub fn finish(mut self) -> Vec<u8> {
        // A final, empty block with fixed codes, then the gzip trailer.
        self.out.extend_from_slice(&[0x03, 0x00]);
        self.out.extend_from_slice(&self.crc.finalize().to_le_bytes());
        self.out.extend_from_slice(&(self.size as u32).to_le_bytes());
        self.out
    }
}

/// A `.tar.gz` of one member of `total` zero bytes under `root/`, a few MB in size.
pub fn one_member_bomb(root: &str, total: u64) -> Vec<u8> {
    let mut bomb = GzipBomb::new();
    bomb.push(raw_header(&format!("{root}/zeros.bin"), tar::EntryType::Regular, total, None).as_bytes());
    bomb.push_repeated(&vec![0u8; MIB], total / MIB as u64);
    bomb.push(&[0u8; 1024]);
    bomb.finish()
}

/// A `.tar.gz` of 1,000,000 empty files under `root/`, written to `path` (a few MB).
pub fn million_members(path: &Path, root: &str) {
    let file = File::create(path).expect("create");
    let mut builder = tar::Builder::new(GzEncoder::new(std::io::BufWriter::new(file), Compression::fast()));
    for i in 0..1_000_000u32 {
        let header = raw_header(&format!("{root}/{i:07}"), tar::EntryType::Regular, 0, None);
        builder.append(&header, std::io::empty()).expect("append");
    }
    builder.into_inner().expect("tar").finish().expect("gzip").flush().expect("flush");
}
