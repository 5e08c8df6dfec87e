//! A safe streaming walker over release archives (tar.gz, tar.bz2, tar.xz, zip/jar/war) and the
//! `archive` checker built on it: every member read to the end, no escaping path, bounded work.

use std::cell::Cell;
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::ops::ControlFlow;
use std::rc::Rc;

use serde_json::json;
use shared_models::checks::CheckResult;

use crate::artifacts::{self, ArchiveFormat, checker};
use crate::report::{Input, Limits, Report};

/// The longest member path or link target accepted: Linux's PATH_MAX. Longer names cannot be
/// extracted anywhere, and capping them bounds what a walker keeps in memory per member.
pub const MAX_PATH_BYTES: usize = 4096;
/// The largest pax extended header read (real ones hold a path and a few attributes).
const MAX_PAX_BYTES: u64 = 1 << 20;
/// How many bytes are read between two deadline checks.
const DEADLINE_STRIDE: u64 = 1 << 20;
const DRAIN_CHUNK: usize = 64 << 10;

/// What a member of an archive is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemberKind {
    File,
    Dir,
    Symlink,
    HardLink,
    /// Devices, FIFOs and other special files.
    Other,
}

impl MemberKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MemberKind::File => "file",
            MemberKind::Dir => "directory",
            MemberKind::Symlink => "symlink",
            MemberKind::HardLink => "hard link",
            MemberKind::Other => "special file",
        }
    }
}

/// Why a member path is unsafe to extract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathProblem {
    /// Starts at the file system root (`/etc/passwd`, `C:\x`).
    Absolute,
    /// Has a `..` segment, so it may resolve outside the extraction directory.
    ParentDir,
    /// Holds a NUL byte, which extractors truncate differently.
    Nul,
}

impl PathProblem {
    pub fn describe(self) -> &'static str {
        match self {
            PathProblem::Absolute => "is absolute",
            PathProblem::ParentDir => "has a `..` segment",
            PathProblem::Nul => "holds a NUL byte",
        }
    }
}

/// One member of an archive, as the walker hands it to a visitor.
#[derive(Debug, Clone)]
pub struct Member {
    /// Position among the members (tar extension headers are not members).
    pub index: u64,
    /// The path as stored, decoded lossily as UTF-8.
    pub raw_path: String,
    /// The path without `./`, `.` or empty segments and without a trailing `/`; the archive's own
    /// root (`./`) is the empty string. Equals `raw_path` when `path_problem` is set.
    pub path: String,
    pub kind: MemberKind,
    /// The size the archive declares for the member's data.
    pub size: u64,
    /// Where a symlink or hard link points, as stored.
    pub link_target: Option<String>,
    pub path_problem: Option<PathProblem>,
}

impl Member {
    fn new(index: u64, raw_path: String, kind: MemberKind, size: u64, link_target: Option<String>) -> Self {
        let (path, path_problem) = match normalise(&raw_path) {
            Ok(path) => (path, None),
            Err(problem) => (raw_path.clone(), Some(problem)),
        };
        Self { index, raw_path, path, kind, size, link_target, path_problem }
    }

    /// The first segment of the path (the top-level entry the member belongs to).
    pub fn top_level(&self) -> Option<&str> {
        self.path.split('/').next().filter(|s| !s.is_empty())
    }

    /// The last segment of the path.
    pub fn name(&self) -> &str {
        artifacts::file_name(&self.path)
    }

    /// The directory holding the member ("" at the archive's root).
    pub fn parent(&self) -> &str {
        self.path.rfind('/').map_or("", |i| &self.path[..i])
    }

    /// The number of segments of the path.
    pub fn depth(&self) -> usize {
        if self.path.is_empty() { 0 } else { self.path.split('/').count() }
    }

    /// macOS AppleDouble metadata (`._name`) that BSD tar adds next to files with attributes.
    pub fn is_apple_double(&self) -> bool {
        self.name().starts_with("._")
    }
}

/// Normalises an archive path: drops `./`, `.` and empty segments and a trailing `/`.
pub fn normalise(raw: &str) -> Result<String, PathProblem> {
    if raw.contains('\0') {
        return Err(PathProblem::Nul);
    }
    let bytes = raw.as_bytes();
    let drive = bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':';
    if raw.starts_with('/') || raw.starts_with('\\') || drive {
        return Err(PathProblem::Absolute);
    }
    let plain = !(raw.starts_with("./")
        || raw.ends_with('/')
        || raw.contains("//")
        || raw.contains("/./")
        || raw.ends_with("/."));
    if plain && !raw.contains("..") && raw != "." {
        return Ok(raw.to_owned());
    }
    let mut segments = Vec::new();
    for segment in raw.split('/') {
        match segment {
            "" | "." => {}
            ".." => return Err(PathProblem::ParentDir),
            s => segments.push(s),
        }
    }
    Ok(segments.join("/"))
}

/// Resolves a symlink's target against the directory of the link, lexically. `None` when the
/// target is absolute or climbs above the archive's root.
pub fn resolve_link(link_path: &str, target: &str) -> Option<String> {
    if target.starts_with('/') || target.contains('\0') {
        return None;
    }
    let mut segments: Vec<&str> = link_path.split('/').filter(|s| !s.is_empty()).collect();
    segments.pop();
    for segment in target.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop()?;
            }
            s => segments.push(s),
        }
    }
    Some(segments.join("/"))
}

/// Why a symlink's target cannot be followed inside the archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkProblem {
    /// Following it (and the links on its way) climbs above the archive's root, or is absolute.
    Escapes,
    /// The links point at each other in a loop.
    Loops,
}

/// Resolves a symlink's target as a filesystem would after extraction: every symlink on the
/// way (`links`, by path) is followed before a `..` is applied, so `sub/l2 -> l1/..` with
/// `sub/l1 -> ..` resolves to the parent of the archive's root, not to `sub`.
pub fn follow_link(
    links: &std::collections::HashMap<&str, &str>,
    link_path: &str,
    target: &str,
) -> Result<String, LinkProblem> {
    /// Links followed before a chain counts as a loop (Linux's `ELOOP` limit).
    const MAX_HOPS: usize = 40;
    let mut resolved: Vec<&str> = link_path.split('/').filter(|s| !s.is_empty()).collect();
    resolved.pop();
    let mut pending: std::collections::VecDeque<&str> = std::collections::VecDeque::new();
    if target.starts_with('/') || target.contains('\0') {
        return Err(LinkProblem::Escapes);
    }
    pending.extend(target.split('/'));
    let mut hops = 0;
    while let Some(segment) = pending.pop_front() {
        match segment {
            "" | "." => {}
            ".." => {
                resolved.pop().ok_or(LinkProblem::Escapes)?;
            }
            segment => {
                resolved.push(segment);
                if let Some(next) = links.get(resolved.join("/").as_str()) {
                    hops += 1;
                    if hops > MAX_HOPS {
                        return Err(LinkProblem::Loops);
                    }
                    if next.starts_with('/') || next.contains('\0') {
                        return Err(LinkProblem::Escapes);
                    }
                    resolved.pop();
                    for part in next.split('/').rev() {
                        pending.push_front(part);
                    }
                }
            }
        }
    }
    Ok(resolved.join("/"))
}

/// Which limit of `Limits` a walk passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    TotalBytes,
    Members,
    /// One member's uncompressed / compressed size.
    MemberRatio,
    /// The whole archive's uncompressed / compressed size (many small members of zeros).
    ArchiveRatio,
}

impl LimitKind {
    /// The name of the setting in `Limits`.
    pub fn setting(self) -> &'static str {
        match self {
            LimitKind::TotalBytes => "max_total_bytes",
            LimitKind::Members => "max_members",
            LimitKind::MemberRatio | LimitKind::ArchiveRatio => "max_ratio",
        }
    }
}

/// A limit passed while walking, with the value that passed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitExceeded {
    pub limit: LimitKind,
    pub value: u64,
    pub max: u64,
    pub member: Option<String>,
}

impl fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (value, max, setting) = (self.value, self.max, self.limit.setting());
        match self.limit {
            LimitKind::Members => write!(f, "the archive has more than {max} members (limit {setting} = {max})")?,
            LimitKind::TotalBytes => {
                write!(f, "the archive expands to {value} bytes or more, above the limit {setting} = {max}")?
            }
            LimitKind::MemberRatio => {
                write!(f, "a member expands {value}:1 from its compressed size, above the limit {setting} = {max}")?
            }
            LimitKind::ArchiveRatio => {
                write!(f, "the archive expands {value}:1 from its compressed size, above the limit {setting} = {max}")?
            }
        }
        if let Some(member) = &self.member {
            write!(f, " (at member `{member}`)")?;
        }
        Ok(())
    }
}

/// The extensions of [`artifacts::ARCHIVE_EXTENSIONS`], for messages: ".tar.gz, .tgz, ...".
fn known_extensions() -> String {
    artifacts::ARCHIVE_EXTENSIONS.iter().map(|(extension, _, _)| *extension).collect::<Vec<_>>().join(", ")
}

/// Why a walk stopped before the end of the archive.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("the file name has no archive extension the checks read ({})", known_extensions())]
    UnknownFormat,
    /// Reading the file itself failed (not its content): the check could not run.
    #[error("could not read the file: {0}")]
    Io(io::Error),
    /// The content does not decode: truncated, corrupt, bad CRC, bad header.
    #[error("{}", located(.member.as_deref(), .detail))]
    Corrupt { member: Option<String>, detail: String },
    /// Valid content this walker does not read (an encrypted zip member, an unknown method).
    #[error("{}", located(.member.as_deref(), .detail))]
    Unsupported { member: Option<String>, detail: String },
    #[error("{0}")]
    Limit(LimitExceeded),
    #[error(
        "the check was stopped (its deadline passed or it was cancelled) after {members} members and {bytes} bytes"
    )]
    Deadline { members: u64, bytes: u64 },
}

fn located(member: Option<&str>, detail: &str) -> String {
    match member {
        Some(member) => format!("member `{member}`: {detail}"),
        None => detail.to_owned(),
    }
}

impl ArchiveError {
    /// The rule of CHECKS.md the error breaks (A1 unreadable, A3 over a limit).
    pub fn rule(&self) -> &'static str {
        match self {
            ArchiveError::Limit(_) | ArchiveError::Deadline { .. } => "A3",
            _ => "A1",
        }
    }

    /// Whether the error is about the release (a failure) rather than about the check (an error).
    pub fn is_release_problem(&self) -> bool {
        matches!(self, ArchiveError::Corrupt { .. } | ArchiveError::Limit(_))
    }

    /// The member the error names, if any.
    pub fn member(&self) -> Option<&str> {
        match self {
            ArchiveError::Corrupt { member, .. } | ArchiveError::Unsupported { member, .. } => member.as_deref(),
            ArchiveError::Limit(limit) => limit.member.as_deref(),
            _ => None,
        }
    }
}

/// What a complete (or stopped) walk saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WalkSummary {
    pub members: u64,
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub hard_links: u64,
    pub other: u64,
    /// Uncompressed bytes of member data.
    pub total_bytes: u64,
    /// Compressed bytes read (tar formats) or the file's size (zip).
    pub compressed_bytes: u64,
    /// The highest uncompressed / compressed ratio of a member past `ratio_floor_bytes`.
    pub highest_ratio: u64,
    /// False when the visitor stopped the walk early.
    pub complete: bool,
}

/// Walks every member of an archive, in archive order, handing each to `visit` with a reader of
/// its data. Whatever the visitor reads, the walker reads every member to its end (so CRCs,
/// sizes and stream checksums are verified) and the stream past the last member. Limits are
/// enforced as bytes arrive: the walk stops as soon as one is passed. Memory stays bounded by
/// the decoder's buffers and the longest accepted path, whatever the archive holds.
pub fn walk(
    input: &Input,
    limits: &Limits,
    mut visit: impl FnMut(&Member, &mut dyn Read) -> ControlFlow<()>,
) -> Result<WalkSummary, ArchiveError> {
    let format = artifacts::archive_format(&input.path).ok_or(ArchiveError::UnknownFormat)?;
    let file = File::open(&input.file).map_err(ArchiveError::Io)?;
    let file_len = file.metadata().map_err(ArchiveError::Io)?.len();
    let source = Tracked::new(BufReader::with_capacity(64 << 10, file));
    let mut budget = Budget::new(limits, source.consumed.clone(), source.os_error.clone());
    let complete = match format {
        ArchiveFormat::Zip => {
            budget.fixed_compressed = Some(file_len);
            walk_zip(source, file_len, &mut budget, &mut visit)?
        }
        ArchiveFormat::TarGz => walk_tar(flate2::bufread::MultiGzDecoder::new(source), &mut budget, &mut visit)?,
        ArchiveFormat::TarBz2 => walk_tar(bzip2::bufread::MultiBzDecoder::new(source), &mut budget, &mut visit)?,
        ArchiveFormat::TarXz => {
            walk_tar(liblzma::bufread::XzDecoder::new_multi_decoder(source), &mut budget, &mut visit)?
        }
    };
    let mut summary = budget.summary;
    summary.compressed_bytes = budget.fixed_compressed.unwrap_or_else(|| budget.consumed.get());
    summary.complete = complete;
    Ok(summary)
}

/// A reader of the archive file that counts the bytes its decoder consumed (for the ratio
/// limits) and remembers whether the operating system failed a read (an I/O error, not corruption).
struct Tracked<R> {
    inner: R,
    consumed: Rc<Cell<u64>>,
    os_error: Rc<Cell<bool>>,
}

impl<R> Tracked<R> {
    fn new(inner: R) -> Self {
        Self { inner, consumed: Rc::new(Cell::new(0)), os_error: Rc::new(Cell::new(false)) }
    }
}

impl<R: Read> Read for Tracked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf).inspect_err(|_| self.os_error.set(true))?;
        self.consumed.set(self.consumed.get() + n as u64);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Tracked<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        let os_error = &self.os_error;
        self.inner.fill_buf().inspect_err(|_| os_error.set(true))
    }

    fn consume(&mut self, amount: usize) {
        self.consumed.set(self.consumed.get() + amount as u64);
        self.inner.consume(amount);
    }
}

impl<R: Seek> Seek for Tracked<R> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos).inspect_err(|_| self.os_error.set(true))
    }
}

/// How the compressed size of the current member is known.
#[derive(Debug, Clone, Copy)]
enum Compressed {
    /// Tar formats: the stream position when the member started.
    StreamFrom(u64),
    /// Zip: the central directory's compressed size.
    Known(u64),
}

/// The counters of one walk, checked against the limits as bytes arrive.
struct Budget<'l> {
    limits: &'l Limits,
    summary: WalkSummary,
    /// Every decompressed byte read (member data, tar extension headers, trailing padding).
    read_total: u64,
    entries: u64,
    consumed: Rc<Cell<u64>>,
    os_error: Rc<Cell<bool>>,
    fixed_compressed: Option<u64>,
    member: Option<String>,
    member_bytes: u64,
    member_compressed: Compressed,
    next_deadline_check: u64,
    /// The first limit passed; once set every read fails.
    violation: Option<ArchiveError>,
    /// The first decoding error under a member, kept even if a visitor swallows it.
    read_error: Option<io::Error>,
}

impl<'l> Budget<'l> {
    fn new(limits: &'l Limits, consumed: Rc<Cell<u64>>, os_error: Rc<Cell<bool>>) -> Self {
        Self {
            limits,
            summary: WalkSummary::default(),
            read_total: 0,
            entries: 0,
            consumed,
            os_error,
            fixed_compressed: None,
            member: None,
            member_bytes: 0,
            member_compressed: Compressed::StreamFrom(0),
            next_deadline_check: DEADLINE_STRIDE,
            violation: None,
            read_error: None,
        }
    }

    fn compressed_so_far(&self) -> u64 {
        self.fixed_compressed.unwrap_or_else(|| self.consumed.get())
    }

    fn limit(&self, limit: LimitKind, value: u64, max: u64) -> ArchiveError {
        ArchiveError::Limit(LimitExceeded { limit, value, max, member: self.member.clone() })
    }

    fn deadline(&self) -> Result<(), ArchiveError> {
        if self.limits.expired() {
            return Err(ArchiveError::Deadline { members: self.summary.members, bytes: self.read_total });
        }
        Ok(())
    }

    /// Counts one tar header or zip entry against `max_members` (extension headers included, so
    /// a stream of empty headers cannot run forever).
    fn entry(&mut self) -> Result<(), ArchiveError> {
        self.entries += 1;
        if self.entries > self.limits.max_members {
            return Err(self.limit(LimitKind::Members, self.entries, self.limits.max_members));
        }
        self.deadline()
    }

    /// Starts a member: declared sizes are checked before any byte is decompressed.
    fn start(&mut self, member: &Member, compressed: Compressed) -> Result<(), ArchiveError> {
        self.member = Some(member.path.clone());
        self.member_bytes = 0;
        self.member_compressed = compressed;
        let declared_total = self.read_total.saturating_add(member.size);
        if declared_total > self.limits.max_total_bytes {
            return Err(self.limit(LimitKind::TotalBytes, declared_total, self.limits.max_total_bytes));
        }
        if let Compressed::Known(compressed) = compressed
            && member.size > self.limits.ratio_floor_bytes
        {
            let ratio = member.size / compressed.max(1);
            if ratio > self.limits.max_ratio {
                return Err(self.limit(LimitKind::MemberRatio, ratio, self.limits.max_ratio));
            }
        }
        let summary = &mut self.summary;
        summary.members += 1;
        match member.kind {
            MemberKind::File => summary.files += 1,
            MemberKind::Dir => summary.dirs += 1,
            MemberKind::Symlink => summary.symlinks += 1,
            MemberKind::HardLink => summary.hard_links += 1,
            MemberKind::Other => summary.other += 1,
        }
        Ok(())
    }

    /// Accounts `n` freshly decompressed bytes; the first limit passed is remembered.
    fn account(&mut self, n: usize, member_data: bool) {
        let n = n as u64;
        self.read_total += n;
        if member_data {
            self.member_bytes += n;
            self.summary.total_bytes += n;
        }
        let limits = self.limits;
        if self.read_total > limits.max_total_bytes {
            self.violation = Some(self.limit(LimitKind::TotalBytes, self.read_total, limits.max_total_bytes));
            return;
        }
        if member_data && self.member_bytes > limits.ratio_floor_bytes {
            let compressed = match self.member_compressed {
                Compressed::StreamFrom(start) => self.consumed.get().saturating_sub(start),
                Compressed::Known(size) => size,
            };
            let ratio = self.member_bytes / compressed.max(1);
            self.summary.highest_ratio = self.summary.highest_ratio.max(ratio);
            if ratio > limits.max_ratio {
                self.violation = Some(self.limit(LimitKind::MemberRatio, ratio, limits.max_ratio));
                return;
            }
        }
        if self.read_total > limits.ratio_floor_bytes {
            let ratio = self.read_total / self.compressed_so_far().max(1);
            if ratio > limits.max_ratio {
                self.violation = Some(self.limit(LimitKind::ArchiveRatio, ratio, limits.max_ratio));
                return;
            }
        }
        if self.read_total >= self.next_deadline_check {
            self.next_deadline_check = self.read_total + DEADLINE_STRIDE;
            if let Err(deadline) = self.deadline() {
                self.violation = Some(deadline);
            }
        }
    }

    /// Turns an I/O error under the decoder into the walk's error: the file's own read failing
    /// is an `Io` error, anything else is the archive's content.
    fn read_failure(&self, error: io::Error) -> ArchiveError {
        self.io_failure(self.member.clone(), error)
    }

    /// [`Self::read_failure`] for an error under `member`.
    fn io_failure(&self, member: Option<String>, error: io::Error) -> ArchiveError {
        if self.os_error.get() {
            return ArchiveError::Io(error);
        }
        ArchiveError::Corrupt { member, detail: describe_read_error(&error) }
    }

    /// Ends a member: a limit passed or a decoding error seen under it stops the walk.
    fn finish(&mut self) -> Result<(), ArchiveError> {
        if let Some(violation) = self.violation.take() {
            return Err(violation);
        }
        if let Some(error) = self.read_error.take() {
            return Err(self.read_failure(error));
        }
        Ok(())
    }

    /// Ends a member read to its end: a file must hold the bytes its header declares.
    fn finish_member(&mut self, member: &Member) -> Result<(), ArchiveError> {
        self.finish()?;
        if member.kind == MemberKind::File && self.member_bytes != member.size {
            return Err(ArchiveError::Corrupt {
                member: Some(member.path.clone()),
                detail: format!("holds {} bytes of data where its header declares {}", self.member_bytes, member.size),
            });
        }
        Ok(())
    }
}

fn describe_read_error(error: &io::Error) -> String {
    let text = error.to_string();
    if error.kind() == io::ErrorKind::UnexpectedEof {
        return format!("the data ends early, the archive is truncated ({text})");
    }
    if text == "Invalid checksum" {
        return "the CRC-32 of the data does not match the one the archive records".to_owned();
    }
    text
}

/// The reader a visitor gets: counts bytes against the limits and fails once one is passed.
struct MemberReader<'a, 'l> {
    inner: &'a mut dyn Read,
    budget: &'a mut Budget<'l>,
    member_data: bool,
}

impl Read for MemberReader<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(violation) = &self.budget.violation {
            return Err(io::Error::other(violation.to_string()));
        }
        if let Some(error) = &self.budget.read_error {
            return Err(io::Error::new(error.kind(), error.to_string()));
        }
        match self.inner.read(buf) {
            Ok(n) => {
                self.budget.account(n, self.member_data);
                if let Some(violation) = &self.budget.violation {
                    return Err(io::Error::other(violation.to_string()));
                }
                Ok(n)
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => Err(error),
            Err(error) => {
                let copy = io::Error::new(error.kind(), error.to_string());
                self.budget.read_error = Some(error);
                Err(copy)
            }
        }
    }
}

/// Reads whatever the visitor left of a member, so every byte is decompressed and checked.
fn drain(reader: &mut MemberReader<'_, '_>, buffer: &mut [u8]) {
    loop {
        match reader.read(buffer) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// Reads a tar extension header (long name, pax) into memory, refusing oversized ones.
fn read_meta(
    entry: &mut dyn Read,
    size: u64,
    max: u64,
    what: &str,
    budget: &mut Budget<'_>,
) -> Result<Vec<u8>, ArchiveError> {
    if size > max {
        return Err(ArchiveError::Corrupt {
            member: budget.member.clone(),
            detail: format!("a {what} of {size} bytes follows; the longest accepted is {max} bytes"),
        });
    }
    let mut data = Vec::with_capacity(size as usize);
    let mut reader = MemberReader { inner: entry, budget, member_data: false };
    let result = reader.read_to_end(&mut data);
    budget.finish()?;
    result.map_err(|e| budget.read_failure(e))?;
    Ok(data)
}

fn lossy(bytes: &[u8]) -> String {
    let end = bytes.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// What the tar extension headers say about the next member.
#[derive(Default)]
struct PendingNames {
    path: Option<String>,
    link: Option<String>,
    size: Option<u64>,
}

fn walk_tar(
    decoder: impl Read,
    budget: &mut Budget<'_>,
    visit: &mut dyn FnMut(&Member, &mut dyn Read) -> ControlFlow<()>,
) -> Result<bool, ArchiveError> {
    let mut archive = tar::Archive::new(decoder);
    let mut buffer = vec![0u8; DRAIN_CHUNK];
    {
        // Raw entries: the tar crate would read GNU long names and pax headers of any size into
        // memory, so this walker reads them itself, capped.
        let entries = archive.entries().map_err(|e| budget.read_failure(e))?.raw(true);
        let mut pending = PendingNames::default();
        for entry in entries {
            let mut entry = entry.map_err(|e| header_failure(budget, e))?;
            budget.entry()?;
            let header = entry.header().clone();
            let entry_type = header.entry_type();
            let size = entry.size();
            match entry_type {
                tar::EntryType::GNULongName | tar::EntryType::GNULongLink => {
                    let bytes = read_meta(&mut entry, size, MAX_PATH_BYTES as u64, "GNU long name", budget)?;
                    let name = Some(lossy(&bytes));
                    if entry_type == tar::EntryType::GNULongName {
                        pending.path = name
                    } else {
                        pending.link = name
                    }
                    continue;
                }
                tar::EntryType::XHeader => {
                    let bytes = read_meta(&mut entry, size, MAX_PAX_BYTES, "pax header", budget)?;
                    read_pax(&bytes, &mut pending, budget)?;
                    continue;
                }
                tar::EntryType::XGlobalHeader => {
                    // `git archive` stores the commit id here; it describes no member.
                    read_meta(&mut entry, size, MAX_PAX_BYTES, "pax global header", budget)?;
                    continue;
                }
                _ => {}
            }
            let raw_path = pending.path.take().unwrap_or_else(|| lossy(&header.path_bytes()));
            let link = pending.link.take().or_else(|| header.link_name_bytes().map(|b| lossy(&b)));
            if let Some(pax_size) = pending.size.take()
                && pax_size != size
            {
                // Readers that honour the pax size and readers that do not would see different
                // members from here on: a known way to smuggle content past a scanner.
                return Err(ArchiveError::Corrupt {
                    member: Some(raw_path),
                    detail: format!("the pax size ({pax_size}) differs from the header size ({size})"),
                });
            }
            let mut kind = match entry_type {
                tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => MemberKind::File,
                tar::EntryType::Directory => MemberKind::Dir,
                tar::EntryType::Symlink => MemberKind::Symlink,
                tar::EntryType::Link => MemberKind::HardLink,
                _ => MemberKind::Other,
            };
            // Pre-POSIX tars mark directories only by a trailing slash.
            if kind == MemberKind::File && raw_path.ends_with('/') && size == 0 {
                kind = MemberKind::Dir;
            }
            let member = Member::new(budget.summary.members, raw_path, kind, size, link);
            let start = budget.consumed.get();
            budget.start(&member, Compressed::StreamFrom(start))?;
            let flow = {
                let mut reader = MemberReader { inner: &mut entry, budget, member_data: true };
                let flow = visit(&member, &mut reader);
                drain(&mut reader, &mut buffer);
                flow
            };
            budget.finish_member(&member)?;
            if flow.is_break() {
                return Ok(false);
            }
        }
        if pending.path.is_some() || pending.link.is_some() {
            return Err(ArchiveError::Corrupt {
                member: budget.member.clone(),
                detail: "the archive ends with a long-name header that describes no member".to_owned(),
            });
        }
    }
    // Past the end-of-archive blocks: the padding and the compressed stream's own trailer (gzip
    // CRC-32 and size, bzip2 and xz checksums) are verified only by reading to the very end.
    budget.member = None;
    let mut rest = archive.into_inner();
    let mut reader = MemberReader { inner: &mut rest, budget, member_data: false };
    drain(&mut reader, &mut buffer);
    budget.finish().map_err(|mut failure| {
        if let ArchiveError::Corrupt { detail, .. } = &mut failure {
            *detail = format!("after the last member: {detail}");
        }
        failure
    })?;
    Ok(true)
}

/// A header that does not parse: named after the member before it, the last one read well.
fn header_failure(budget: &Budget<'_>, error: io::Error) -> ArchiveError {
    match budget.read_failure(error) {
        ArchiveError::Corrupt { member, detail } => ArchiveError::Corrupt {
            member: None,
            detail: match member {
                Some(previous) => format!("the header after member `{previous}`: {detail}"),
                None => format!("the first header: {detail}"),
            },
        },
        other => other,
    }
}

fn read_pax(bytes: &[u8], pending: &mut PendingNames, budget: &Budget<'_>) -> Result<(), ArchiveError> {
    for extension in tar::PaxExtensions::new(bytes) {
        let extension = extension.map_err(|e| ArchiveError::Corrupt {
            member: budget.member.clone(),
            detail: format!("a pax header after this member is malformed ({e})"),
        })?;
        let value = extension.value_bytes();
        match extension.key_bytes() {
            b"path" => pending.path = Some(lossy(value)),
            b"linkpath" => pending.link = Some(lossy(value)),
            b"size" => pending.size = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok()),
            _ => {}
        }
    }
    if pending.path.as_ref().is_some_and(|p| p.len() > MAX_PATH_BYTES)
        || pending.link.as_ref().is_some_and(|p| p.len() > MAX_PATH_BYTES)
    {
        return Err(ArchiveError::Corrupt {
            member: budget.member.clone(),
            detail: format!("a pax path after this member is longer than {MAX_PATH_BYTES} bytes"),
        });
    }
    Ok(())
}

/// The number of entries a zip's end-of-central-directory record declares, read before the
/// `zip` crate builds its index (which takes memory per entry). `None` when no record is found.
fn zip_declared_entries<R: Read + Seek>(reader: &mut R, len: u64) -> io::Result<Option<u64>> {
    const EOCD: [u8; 4] = *b"PK\x05\x06";
    const LOCATOR: [u8; 4] = *b"PK\x06\x07";
    const EOCD64: [u8; 4] = *b"PK\x06\x06";
    let tail_len = len.min(22 + 65_535);
    reader.seek(SeekFrom::Start(len - tail_len))?;
    let mut tail = vec![0u8; tail_len as usize];
    reader.read_exact(&mut tail)?;
    let Some(at) = (0..tail.len().saturating_sub(21)).rev().find(|&i| tail[i..i + 4] == EOCD) else {
        return Ok(None);
    };
    let entries = u64::from(u16::from_le_bytes([tail[at + 10], tail[at + 11]]));
    if entries != 0xFFFF {
        return Ok(Some(entries));
    }
    let eocd_offset = len - tail_len + at as u64;
    if eocd_offset < 20 {
        return Ok(Some(entries));
    }
    let mut locator = [0u8; 20];
    reader.seek(SeekFrom::Start(eocd_offset - 20))?;
    reader.read_exact(&mut locator)?;
    if locator[..4] != LOCATOR {
        return Ok(Some(entries));
    }
    let mut offset = [0u8; 8];
    offset.copy_from_slice(&locator[8..16]);
    let record_offset = u64::from_le_bytes(offset);
    if record_offset.saturating_add(56) > len {
        return Ok(Some(entries));
    }
    let mut record = [0u8; 56];
    reader.seek(SeekFrom::Start(record_offset))?;
    reader.read_exact(&mut record)?;
    if record[..4] != EOCD64 {
        return Ok(Some(entries));
    }
    let mut total = [0u8; 8];
    total.copy_from_slice(&record[32..40]);
    Ok(Some(u64::from_le_bytes(total)))
}

fn zip_failure(budget: &Budget<'_>, member: Option<String>, error: zip::result::ZipError) -> ArchiveError {
    use zip::result::ZipError;
    match error {
        ZipError::Io(error) => budget.io_failure(member, error),
        ZipError::UnsupportedArchive(detail) => ArchiveError::Unsupported { member, detail: detail.to_owned() },
        ZipError::CompressionMethodNotSupported(method) => {
            ArchiveError::Unsupported { member, detail: format!("compression method {method} is not supported") }
        }
        other => ArchiveError::Corrupt { member, detail: other.to_string() },
    }
}

const S_IFMT: u32 = 0o170_000;
const S_IFREG: u32 = 0o100_000;
const S_IFDIR: u32 = 0o040_000;
const S_IFLNK: u32 = 0o120_000;

fn walk_zip(
    mut source: Tracked<BufReader<File>>,
    len: u64,
    budget: &mut Budget<'_>,
    visit: &mut dyn FnMut(&Member, &mut dyn Read) -> ControlFlow<()>,
) -> Result<bool, ArchiveError> {
    let declared = zip_declared_entries(&mut source, len).map_err(|e| budget.read_failure(e))?;
    if let Some(declared) = declared
        && declared > budget.limits.max_members
    {
        return Err(budget.limit(LimitKind::Members, declared, budget.limits.max_members));
    }
    source.seek(SeekFrom::Start(0)).map_err(|e| budget.read_failure(e))?;
    let mut zip = zip::ZipArchive::new(source).map_err(|e| zip_failure(budget, None, e))?;
    // Entries sharing compressed bytes are how the densest zip bombs are built; no tool that
    // makes releases writes them.
    if zip.has_overlapping_entries().map_err(|e| zip_failure(budget, None, e))? {
        return Err(ArchiveError::Corrupt {
            member: None,
            detail: "members overlap in the file (several entries share compressed data, as in a zip bomb)".to_owned(),
        });
    }
    let mut buffer = vec![0u8; DRAIN_CHUNK];
    for index in 0..zip.len() {
        budget.entry()?;
        let name = zip.name_for_index(index).and_then(Result::ok).map(|n| n.into_owned());
        let mut file = zip.by_index(index).map_err(|e| zip_failure(budget, name.clone(), e))?;
        // Windows tools write `\`; every zip reader treats it as a separator.
        let raw_path = lossy(file.name_raw()).replace('\\', "/");
        if raw_path.len() > MAX_PATH_BYTES {
            return Err(ArchiveError::Corrupt {
                member: None,
                detail: format!("a member path is longer than {MAX_PATH_BYTES} bytes"),
            });
        }
        let kind = match file.unix_mode().map(|m| m & S_IFMT) {
            _ if file.is_dir() => MemberKind::Dir,
            _ if file.is_symlink() => MemberKind::Symlink,
            Some(0 | S_IFREG | S_IFDIR | S_IFLNK) | None => MemberKind::File,
            Some(_) => MemberKind::Other,
        };
        let mut member = Member::new(budget.summary.members, raw_path, kind, file.size(), None);
        if member.path_problem.is_none() && file.enclosed_name().is_none() {
            member.path_problem = Some(PathProblem::ParentDir);
        }
        budget.start(&member, Compressed::Known(file.compressed_size()))?;
        let flow = {
            let mut reader = MemberReader { inner: &mut file, budget, member_data: true };
            let flow = if kind == MemberKind::Symlink {
                // A zip symlink's data is its target.
                let mut target = Vec::new();
                let read = (&mut reader).take(MAX_PATH_BYTES as u64).read_to_end(&mut target);
                if read.is_ok() {
                    member.link_target = Some(lossy(&target));
                }
                visit(&member, &mut io::empty())
            } else {
                visit(&member, &mut reader)
            };
            drain(&mut reader, &mut buffer);
            flow
        };
        budget.finish_member(&member)?;
        if flow.is_break() {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The entries at the top of an archive, to find its single top-level directory.
#[derive(Debug, Clone, Default)]
pub struct TopLevel {
    /// First path segment → whether it is a directory (an entry of its own or a parent).
    entries: BTreeMap<String, bool>,
    /// Entries beyond the ones kept.
    more: u64,
}

impl TopLevel {
    /// More distinct top-level entries than this are only counted.
    const KEPT: usize = 1000;

    /// Records a member. The archive's root entry (`./`) and AppleDouble files are ignored.
    pub fn add(&mut self, member: &Member) {
        let Some(first) = member.top_level() else { return };
        if member.is_apple_double() && member.depth() == 1 {
            return;
        }
        let is_dir = member.depth() > 1 || member.kind == MemberKind::Dir;
        if let Some(known) = self.entries.get_mut(first) {
            *known |= is_dir;
        } else if self.entries.len() < Self::KEPT {
            self.entries.insert(first.to_owned(), is_dir);
        } else {
            self.more += 1;
        }
    }

    /// The directory holding every member, if there is exactly one top-level entry and it is one.
    pub fn single_dir(&self) -> Option<&str> {
        match (self.entries.len(), self.more) {
            (1, 0) => self.entries.iter().next().filter(|(_, is_dir)| **is_dir).map(|(name, _)| name.as_str()),
            _ => None,
        }
    }

    /// The number of top-level entries.
    pub fn len(&self) -> u64 {
        self.entries.len() as u64 + self.more
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The first few top-level names, for messages.
    pub fn names(&self, max: usize) -> Vec<String> {
        self.entries
            .iter()
            .take(max)
            .map(|(name, is_dir)| if *is_dir { format!("{name}/") } else { name.clone() })
            .collect()
    }
}

/// Suffixes a release's archive name and its top-level directory may differ by.
const ROOT_SUFFIXES: [&str; 6] = ["-source-release", "-binary-assembly", "-source", "-binary", "-src", "-bin"];

fn without_root_suffix(name: &str) -> &str {
    ROOT_SUFFIXES.iter().find_map(|suffix| name.strip_suffix(suffix)).unwrap_or(name)
}

/// Whether `dir` is an acceptable top-level directory for the archive `archive_path`: its base
/// name, the same up to a `-src`/`-source`/`-source-release`/`-bin` suffix on either side, or
/// npm's `package`.
pub fn expected_top_level(archive_path: &str, dir: &str) -> bool {
    let base = artifacts::archive_base_name(archive_path);
    dir == base || dir == "package" || without_root_suffix(dir) == without_root_suffix(base)
}

/// Results listed one by one per rule before the rest are only counted.
const LISTED: usize = 100;

/// What the `archive` checker collects while walking.
struct Findings {
    top: TopLevel,
    /// Every path and parent directory, for symlink targets; dropped past `PATHS_KEPT_BYTES`.
    paths: Option<HashSet<String>>,
    path_bytes: usize,
    symlinks: Vec<(String, String)>,
    a2_failures: u64,
    a2_warnings: u64,
}

/// The most bytes of paths kept to check that symlinks point at members.
const PATHS_KEPT_BYTES: usize = 64 << 20;

impl Findings {
    fn observe(&mut self, member: &Member, report: &mut Report) {
        self.top.add(member);
        if let Some(paths) = &mut self.paths {
            let mut end = member.path.len();
            while end > 0 {
                let prefix = &member.path[..end];
                if paths.contains(prefix) {
                    break;
                }
                self.path_bytes += prefix.len();
                paths.insert(prefix.to_owned());
                end = prefix.rfind('/').unwrap_or(0);
            }
            if self.path_bytes > PATHS_KEPT_BYTES {
                self.paths = None;
            }
        }
        if let Some(problem) = member.path_problem {
            self.a2_failure(report, &member.raw_path, || {
                format!(
                    "member path `{}` {}: expected a relative path that stays inside the archive; \
                     extracting it would write outside the target directory",
                    member.raw_path,
                    problem.describe()
                )
            });
        }
        match member.kind {
            MemberKind::HardLink => {
                let target = member.link_target.as_deref().unwrap_or("");
                self.a2_failure(report, &member.path, || {
                    format!(
                        "member `{}` is a hard link to `{target}`: expected no hard links in a release archive \
                         (store a copy of the file, or a relative symlink)",
                        member.path
                    )
                });
            }
            MemberKind::Symlink => {
                let target = member.link_target.clone().unwrap_or_default();
                match resolve_link(&member.path, &target) {
                    Some(_) if member.path_problem.is_none() => self.symlinks.push((member.path.clone(), target)),
                    Some(_) => {}
                    None => self.a2_failure(report, &member.path, || {
                        format!(
                            "symlink `{}` points to `{target}`, outside the archive: expected symlinks to \
                             stay inside the archive's top-level directory",
                            member.path
                        )
                    }),
                }
            }
            MemberKind::Other => self.a2_warning(report, &member.path, || {
                format!(
                    "member `{}` is a device or FIFO: expected only files, directories and symlinks in a release archive",
                    member.path
                )
            }),
            MemberKind::File | MemberKind::Dir => {}
        }
    }

    fn a2_failure(&mut self, report: &mut Report, member: &str, message: impl FnOnce() -> String) {
        self.a2_failures += 1;
        if self.a2_failures <= LISTED as u64 {
            report.failure("A2", message()).member(member.to_owned());
        }
    }

    fn a2_warning(&mut self, report: &mut Report, member: &str, message: impl FnOnce() -> String) {
        self.a2_warnings += 1;
        if self.a2_warnings <= LISTED as u64 {
            report.warning("A2", message()).member(member.to_owned());
        }
    }

    /// Symlinks are checked once every member is known: their targets may come later, and a
    /// target is followed through the other links on its way.
    fn check_symlinks(&mut self, report: &mut Report) {
        let symlinks = std::mem::take(&mut self.symlinks);
        let paths = self.paths.take();
        let top = self.top.single_dir().map(str::to_owned);
        let links: std::collections::HashMap<&str, &str> =
            symlinks.iter().map(|(link, target)| (link.as_str(), target.as_str())).collect();
        for (link, target) in &symlinks {
            let resolved = match follow_link(&links, link, target) {
                Ok(resolved) => resolved,
                Err(problem) => {
                    self.a2_failure(report, link, || match problem {
                        LinkProblem::Escapes => format!(
                            "symlink `{link}` points to `{target}`, which, following the links on its way, leads \
                             outside the archive: expected symlinks to stay inside the archive's top-level directory"
                        ),
                        LinkProblem::Loops => format!(
                            "symlink `{link}` points to `{target}`, and the links on its way form a loop: expected \
                             symlinks that lead to a file or directory"
                        ),
                    });
                    continue;
                }
            };
            let leaves_top =
                top.as_deref().is_some_and(|top| resolved != top && !resolved.starts_with(&format!("{top}/")));
            if leaves_top {
                self.a2_failure(report, link, || {
                    format!(
                        "symlink `{link}` points to `{target}`, outside the top-level directory `{}/`: expected \
                         symlinks to stay inside it",
                        top.as_deref().unwrap_or_default()
                    )
                });
            } else if paths.as_ref().is_some_and(|paths| !paths.contains(&resolved)) {
                self.a2_warning(report, link, || {
                    format!("symlink `{link}` points to `{target}`, which is not in the archive (a dangling link)")
                });
            }
        }
        self.paths = paths;
    }
}

/// The `archive` checker: A1 reads to the end, A2 safe paths and links, A3 within limits,
/// A4 a single top-level directory named after the archive (not for Java archives).
pub fn check(input: &Input, limits: &Limits) -> Vec<CheckResult> {
    let mut report = Report::new(checker::ARCHIVE, input.path.clone());
    let mut findings = Findings {
        top: TopLevel::default(),
        paths: Some(HashSet::new()),
        path_bytes: 0,
        symlinks: Vec::new(),
        a2_failures: 0,
        a2_warnings: 0,
    };
    let outcome = walk(input, limits, |member, _| {
        findings.observe(member, &mut report);
        ControlFlow::Continue(())
    });
    let summary = match outcome {
        Ok(summary) => summary,
        Err(error) => {
            report_walk_error(&mut report, &error);
            return report.finish();
        }
    };
    findings.check_symlinks(&mut report);
    let format = artifacts::archive_format(&input.path);
    let counts = json!({
        "members": summary.members,
        "files": summary.files,
        "directories": summary.dirs,
        "symlinks": summary.symlinks,
        "total_bytes": summary.total_bytes,
        "compressed_bytes": summary.compressed_bytes,
    });
    let verified = if format == Some(ArchiveFormat::Zip) {
        "every member's CRC-32 and size verified"
    } else {
        "every member decompressed and the stream's checksum verified"
    };
    report
        .success(
            "A1",
            format!(
                "read all {} members ({} bytes uncompressed) to the end; {verified}",
                summary.members, summary.total_bytes
            ),
        )
        .data("counts", counts);
    let listed_more = |count: u64| count.saturating_sub(LISTED as u64);
    if findings.a2_failures == 0 {
        report.success(
            "A2",
            format!(
                "no absolute path, no `..`, no hard link, and every symlink ({}) stays inside, among {} members",
                summary.symlinks, summary.members
            ),
        );
    } else if listed_more(findings.a2_failures) > 0 {
        report
            .failure(
                "A2",
                format!(
                    "{} more unsafe members than the {LISTED} listed: expected none",
                    listed_more(findings.a2_failures)
                ),
            )
            .data("unsafe_members", findings.a2_failures);
    }
    if findings.paths.is_none() {
        report.warning("A2", "member paths too long in total to check every symlink's target exists");
    }
    report
        .success(
            "A3",
            format!(
                "within limits: {} members (max {}), {} bytes uncompressed (max {}), compression ratio {}:1 overall \
                 and {}:1 at most for members past {} bytes (max {})",
                summary.members,
                limits.max_members,
                summary.total_bytes,
                limits.max_total_bytes,
                summary.total_bytes / summary.compressed_bytes.max(1),
                summary.highest_ratio,
                limits.ratio_floor_bytes,
                limits.max_ratio
            ),
        )
        .data("members", summary.members)
        .data("total_bytes", summary.total_bytes)
        .data("highest_member_ratio", summary.highest_ratio)
        .data("max_members", limits.max_members)
        .data("max_total_bytes", limits.max_total_bytes)
        .data("max_ratio", limits.max_ratio);
    if !artifacts::is_java_archive(&input.path) {
        check_top_level(&mut report, &input.path, &findings.top);
    }
    report.finish()
}

/// Reports an error that stopped a walk, under the rule it breaks.
pub fn report_walk_error(report: &mut Report, error: &ArchiveError) {
    let rule = error.rule();
    let message = match error {
        ArchiveError::Corrupt { .. } => format!("the archive does not read to the end: {error}"),
        ArchiveError::Limit(limit) => format!("stopped reading: {limit}; a release archive stays far below it"),
        ArchiveError::Unsupported { .. } => format!("this archive uses a feature the checks cannot read: {error}"),
        _ => format!("could not check the archive: {error}"),
    };
    let handle = if error.is_release_problem() { report.failure(rule, message) } else { report.error(rule, message) };
    let handle = handle.data("error", error.to_string());
    let handle = match error {
        ArchiveError::Limit(limit) => {
            handle.data("limit", limit.limit.setting()).data("value", limit.value).data("max", limit.max)
        }
        _ => handle,
    };
    if let Some(member) = error.member() {
        handle.member(member.to_owned());
    }
}

fn check_top_level(report: &mut Report, path: &str, top: &TopLevel) {
    let base = artifacts::archive_base_name(path);
    let expected = format!("`{base}/` (or the same with -src, -source, -source-release or -bin, or npm's `package/`)");
    match top.single_dir() {
        Some(dir) if expected_top_level(path, dir) => {
            report
                .success("A4", format!("every member is under the single top-level directory `{dir}/`"))
                .data("top_level", dir);
        }
        Some(dir) => {
            report
                .warning("A4", format!("expected a single top-level directory named {expected}, found `{dir}/`"))
                .data("top_level", dir)
                .data("expected", base);
        }
        None if top.is_empty() => {
            report
                .warning("A4", format!("the archive has no members: expected a single top-level directory {expected}"));
        }
        None => {
            let names = top.names(10);
            let more = top.len().saturating_sub(names.len() as u64);
            let tail = if more > 0 { format!(" and {more} more") } else { String::new() };
            report
                .warning(
                    "A4",
                    format!(
                        "expected a single top-level directory named {expected}, found {} top-level entries: {}{tail}",
                        top.len(),
                        names.join(", ")
                    ),
                )
                .data("top_level_entries", names)
                .data("expected", base);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_paths() {
        assert_eq!(normalise("./a//b/./c/").as_deref(), Ok("a/b/c"));
        assert_eq!(normalise("./").as_deref(), Ok(""));
        assert_eq!(normalise("a/.").as_deref(), Ok("a"));
        assert_eq!(normalise("a/b..c").as_deref(), Ok("a/b..c"));
        assert_eq!(normalise("a/../b"), Err(PathProblem::ParentDir));
        assert_eq!(normalise("/etc/passwd"), Err(PathProblem::Absolute));
        assert_eq!(normalise("C:/x"), Err(PathProblem::Absolute));
        assert_eq!(normalise("a\0b"), Err(PathProblem::Nul));
    }

    #[test]
    fn resolves_links_lexically() {
        assert_eq!(resolve_link("x/lib/a.so", "b.so").as_deref(), Some("x/lib/b.so"));
        assert_eq!(resolve_link("x/lib/a", "../docs/./c").as_deref(), Some("x/docs/c"));
        assert_eq!(resolve_link("x/a", "../../etc/passwd"), None);
        assert_eq!(resolve_link("x/a", "/etc/passwd"), None);
        assert_eq!(resolve_link("x/a", "..").as_deref(), Some(""));
    }

    #[test]
    fn accepts_top_level_variants() {
        assert!(expected_top_level("httpd-2.4.68.tar.gz", "httpd-2.4.68"));
        assert!(expected_top_level("x-1.0-src.tar.gz", "x-1.0"));
        assert!(expected_top_level("x-1.0.tar.gz", "x-1.0-src"));
        assert!(expected_top_level("x-1.0-source-release.zip", "x-1.0"));
        assert!(expected_top_level("x-1.0-bin.tar.gz", "x-1.0"));
        assert!(expected_top_level("x-1.0.tgz", "package"));
        assert!(!expected_top_level("x-1.0.tar.gz", "y-1.0"));
        assert!(!expected_top_level("x-1.0.tar.gz", "x-1.1-src"));
    }

    #[test]
    fn finds_the_single_top_level_directory() {
        let member = |path: &str, kind| Member::new(0, path.to_owned(), kind, 0, None);
        let mut top = TopLevel::default();
        top.add(&member("./", MemberKind::Dir));
        top.add(&member("./x-1.0/a", MemberKind::File));
        top.add(&member("._x-1.0", MemberKind::File));
        assert_eq!(top.single_dir(), Some("x-1.0"));
        top.add(&member("README", MemberKind::File));
        assert_eq!(top.single_dir(), None);
        assert_eq!(top.names(5), ["README", "x-1.0/"]);
        let mut only_file = TopLevel::default();
        only_file.add(&member("README", MemberKind::File));
        assert_eq!(only_file.single_dir(), None);
    }

    #[test]
    fn limit_messages_name_the_setting() {
        let limit = LimitExceeded { limit: LimitKind::Members, value: 200_001, max: 200_000, member: None };
        assert!(limit.to_string().contains("max_members = 200000"), "{limit}");
        let ratio = LimitExceeded { limit: LimitKind::MemberRatio, value: 1029, max: 1000, member: Some("a".into()) };
        assert!(ratio.to_string().contains("1029:1") && ratio.to_string().contains("`a`"), "{ratio}");
    }
}
