//! The archive format: one gzip-compressed tar file.
//!
//! ```text
//! manifest.json                         first: format, versions, created_at, every member's sha256
//! database.sqlite                       the snapshot (VACUUM INTO)
//! data/photos/ab/ab12…                  blobs, laid out as under the data directory
//! data/documents/plain/cd/cd34…
//! data/documents/sealed/ef/ef56…
//! ```
//!
//! The manifest comes first so a reader knows what to expect before it has read any member:
//! a restore refuses a backup of a newer schema, an unknown member, a member of the wrong size
//! or checksum, a missing member and a truncated stream (the gzip trailer's CRC is read too).
//! Every member path is checked against the layout above, so an archive cannot write outside
//! the data directory. `tar -xzf` reads the archive as well, for an operator who wants a look.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::DomainError;
use crate::photos::is_photo_key;

/// The version of this layout; a reader refuses others.
pub const FORMAT: u32 = 1;
/// The manifest's member name.
pub const MANIFEST: &str = "manifest.json";
/// The database snapshot's member name.
pub const DATABASE: &str = "database.sqlite";
/// Blob members are named `data/<path under the data directory>`.
const DATA_PREFIX: &str = "data/";
/// The largest manifest a reader accepts (a million blobs take about 150 MB of JSON).
const MAX_MANIFEST_BYTES: u64 = 512 << 20;
/// gzip level 3: photos and PDFs are compressed already, the database compresses well even at
/// low levels, and the higher levels cost several times the CPU for a few percent.
const GZIP_LEVEL: u32 = 3;

/// What a backup holds, stored as its first member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The archive layout's version ([`FORMAT`]).
    pub format: u32,
    /// The fieldops version that wrote the backup.
    pub fieldops_version: String,
    /// The highest migration applied to the snapshot: a restore refuses a backup newer than the
    /// migrations it knows, and migrates an older one up.
    pub schema_version: i64,
    /// When the snapshot was taken.
    pub created_at: DateTime<Utc>,
    /// Every member after the manifest, in archive order.
    pub members: Vec<Member>,
}

/// One file in the archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The member's name in the archive.
    pub path: String,
    /// Its length in bytes.
    pub size: u64,
    /// Lower-case hex SHA-256 of its bytes.
    pub sha256: String,
}

/// What a member is, from its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberKind {
    /// The database snapshot.
    Database,
    /// A blob, at this path relative to the data directory.
    Blob(PathBuf),
}

/// The blob trees under the data directory, relative to it: photos and both document trees.
pub fn blob_roots() -> Vec<PathBuf> {
    let documents = Path::new(crate::contract_documents::DATA_SUBDIR);
    let mut roots = vec![PathBuf::from(crate::photos::DATA_SUBDIR)];
    roots.extend(
        crate::contract_documents::TREES
            .iter()
            .map(|t| documents.join(t)),
    );
    roots
}

/// The member name of the blob at `relative` (a path under the data directory).
pub fn blob_member(relative: &Path) -> String {
    let parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    format!("{DATA_PREFIX}{}", parts.join("/"))
}

/// What `name` is, or `None` when it is not a name this layout has: only the database and
/// `data/<blob root>/<2 hex>/<64 hex>` with the directory the key's first two digits.
pub fn member_kind(name: &str) -> Option<MemberKind> {
    if name == DATABASE {
        return Some(MemberKind::Database);
    }
    let rest = name.strip_prefix(DATA_PREFIX)?;
    let (dir, key) = rest.rsplit_once('/')?;
    let (root, fan) = dir.rsplit_once('/')?;
    let known = blob_roots()
        .iter()
        .any(|r| blob_member(r).strip_prefix(DATA_PREFIX) == Some(root));
    (known && is_photo_key(key) && key.get(..2) == Some(fan))
        .then(|| MemberKind::Blob(Path::new(root).join(fan).join(key)))
}

/// A reader that hashes and counts what passes through it, and remembers whether reading
/// failed (a damaged archive) as opposed to what the bytes were written to.
pub(crate) struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
    failed: bool,
}

impl<R: Read> Hashing<R> {
    pub(crate) fn new(inner: R) -> Self {
        Hashing {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
            failed: false,
        }
    }

    /// Bytes read and their SHA-256 (hex).
    pub(crate) fn finish(self) -> (u64, String) {
        (self.bytes, hex::encode(self.hasher.finalize()))
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf).inspect_err(|_| self.failed = true)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// Size and SHA-256 of the file at `path`.
pub(crate) fn describe_file(path: &Path) -> io::Result<(u64, String)> {
    let mut reader = Hashing::new(BufReader::new(File::open(path)?));
    io::copy(&mut reader, &mut io::sink())?;
    Ok(reader.finish())
}

/// Writes the archive to `out`: the manifest, then each member from its source file
/// (`sources[i]` holds `manifest.members[i]`). A source whose bytes no longer match the
/// manifest fails the write: the archive would not verify.
pub(crate) fn write(out: File, manifest: &Manifest, sources: &[PathBuf]) -> io::Result<File> {
    let gz = GzEncoder::new(BufWriter::new(out), Compression::new(GZIP_LEVEL));
    let mut tar = tar::Builder::new(gz);
    let mtime = u64::try_from(manifest.created_at.timestamp()).unwrap_or_default();
    let header = |size: u64| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(size);
        h.set_mode(0o600);
        h.set_mtime(mtime);
        h
    };
    let json = serde_json::to_vec_pretty(manifest).map_err(io::Error::other)?;
    tar.append_data(&mut header(json.len() as u64), MANIFEST, json.as_slice())?;
    for (member, source) in manifest.members.iter().zip(sources) {
        let mut reader = Hashing::new(BufReader::new(File::open(source)?).take(member.size));
        tar.append_data(&mut header(member.size), &member.path, &mut reader)?;
        if reader.finish() != (member.size, member.sha256.clone()) {
            return Err(io::Error::other(format!(
                "{} changed while it was being archived",
                source.display()
            )));
        }
    }
    let gz = tar.into_inner()?;
    let buffered = gz.finish()?;
    buffered.into_inner().map_err(|e| e.into_error())
}

/// Why an archive is refused: a validation error on `archive`, which says what is wrong.
pub(crate) fn refused(why: impl std::fmt::Display) -> DomainError {
    DomainError::field("archive", format!("refused, nothing restored: {why}"))
}

/// Reads the archive at `path` and checks it against its manifest: every member named by the
/// manifest, none twice, nothing else, each of its recorded size and SHA-256, the stream whole
/// to its end. `sink` gets each member's bytes as they are read (the verifying pass discards
/// them, the restoring pass writes them); a member is only known good once `read` returned, so
/// a sink writes where a failure can be discarded.
pub(crate) fn read(
    path: &Path,
    mut sink: impl FnMut(&MemberKind, &mut dyn Read) -> io::Result<()>,
) -> Result<Manifest, DomainError> {
    let file = File::open(path).map_err(|e| refused(format!("cannot open it: {e}")))?;
    let mut tar = tar::Archive::new(GzDecoder::new(BufReader::new(file)));
    let damaged = |e: io::Error| refused(format!("the archive is damaged or truncated ({e})"));
    let manifest = {
        let mut entries = tar.entries().map_err(damaged)?;
        let mut first = entries
            .next()
            .ok_or_else(|| refused("the archive is empty"))?
            .map_err(damaged)?;
        if first.path_bytes().as_ref() != MANIFEST.as_bytes() {
            return Err(refused(format!(
                "the first member is not {MANIFEST}: not a fieldops backup"
            )));
        }
        if first.size() > MAX_MANIFEST_BYTES {
            return Err(refused("the manifest is too large"));
        }
        let mut json = Vec::new();
        first.read_to_end(&mut json).map_err(damaged)?;
        let manifest: Manifest = serde_json::from_slice(&json)
            .map_err(|e| refused(format!("the manifest is not valid: {e}")))?;
        if manifest.format != FORMAT {
            return Err(refused(format!(
                "archive format {} is not {FORMAT}, the one this fieldops reads",
                manifest.format
            )));
        }
        let mut expected: HashMap<&str, &Member> = HashMap::new();
        for m in &manifest.members {
            if member_kind(&m.path).is_none() {
                return Err(refused(format!("the manifest names `{}`", m.path)));
            }
            if expected.insert(&m.path, m).is_some() {
                return Err(refused(format!("the manifest names `{}` twice", m.path)));
            }
        }
        if !expected.contains_key(DATABASE) {
            return Err(refused(format!("the manifest has no {DATABASE}")));
        }
        let mut seen = HashSet::new();
        for entry in entries {
            let mut entry = entry.map_err(damaged)?;
            let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let Some(member) = expected.get(name.as_str()) else {
                return Err(refused(format!("unexpected member `{name}`")));
            };
            if entry.header().entry_type() != tar::EntryType::Regular {
                return Err(refused(format!("`{name}` is not a regular file")));
            }
            if !seen.insert(name.clone()) {
                return Err(refused(format!("`{name}` appears twice")));
            }
            if entry.size() != member.size {
                return Err(refused(format!(
                    "`{name}` is {} bytes, the manifest says {}",
                    entry.size(),
                    member.size
                )));
            }
            let kind = member_kind(&name).ok_or_else(|| refused(format!("`{name}`")))?;
            let mut reader = Hashing::new(&mut entry);
            let sunk = sink(&kind, &mut reader)
                .and_then(|()| io::copy(&mut reader, &mut io::sink()).map(drop));
            if let Err(e) = sunk {
                return Err(if reader.failed {
                    damaged(e)
                } else {
                    DomainError::Internal(format!("restoring `{name}`: {e}"))
                });
            }
            let (bytes, sha256) = reader.finish();
            if bytes != member.size || sha256 != member.sha256 {
                return Err(refused(format!(
                    "`{name}` does not match its checksum in the manifest"
                )));
            }
        }
        if let Some(missing) = manifest.members.iter().find(|m| !seen.contains(&m.path)) {
            return Err(refused(format!(
                "`{}` is missing: the archive is incomplete",
                missing.path
            )));
        }
        manifest
    };
    // The tar reader stops at its end marker; reading the gzip stream to its end checks its
    // trailer (CRC-32 and length), so a cut-off file is refused even past the last member.
    let mut rest = tar.into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(damaged)?;
    Ok(manifest)
}

/// Writes what `reader` gives to the file at `path` (created or truncated, then synced),
/// creating its directory.
pub(crate) fn write_file(path: &Path, reader: &mut dyn Read) -> io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut out = BufWriter::new(File::create(path)?);
    io::copy(reader, &mut out)?;
    out.into_inner().map_err(|e| e.into_error())?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_layouts_names_are_members() {
        let key = "ab".to_owned() + &"0".repeat(62);
        assert_eq!(member_kind("database.sqlite"), Some(MemberKind::Database));
        for root in ["photos", "documents/plain", "documents/sealed"] {
            let name = format!("data/{root}/ab/{key}");
            assert_eq!(
                member_kind(&name),
                Some(MemberKind::Blob(Path::new(root).join("ab").join(&key))),
                "{name}"
            );
            assert_eq!(blob_member(&Path::new(root).join("ab").join(&key)), name);
        }
        for bad in [
            format!("data/photos/cd/{key}"),
            format!("data/maps/ab/{key}"),
            format!("data/photos/../ab/{key}"),
            format!("data/photos/ab/{key}/x"),
            "data/photos/ab/ab12".to_owned(),
            format!("/data/photos/ab/{key}"),
            "manifest.json".to_owned(),
            "../database.sqlite".to_owned(),
        ] {
            assert_eq!(member_kind(&bad), None, "{bad}");
        }
    }
}
