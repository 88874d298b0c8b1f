//! The contract archive: signed documents (PDF) uploaded to a contract, kept content-addressed
//! in a blob store, sealed at rest when the operator configured a key, listed and searched by
//! customer, asset code and signing day, and downloaded with an audit entry per download.
//!
//! Where the bytes go is [`Archive`]'s decision, made once per upload and recorded on the row
//! (`sealed`), so turning a key on later does not make older documents unreadable and a
//! sealed document is never served without the key.

use std::sync::Arc;

use chrono::NaiveDate;
use mobile_shared::documents::{ContractDocument, DocumentSearch};
use mobile_shared::wire::Page;
use mobile_shared::ErrorCode;
use uuid::Uuid;

use crate::actor::Actor;
use crate::audit::Change;
use crate::clock;
use crate::entity::Entity;
use crate::error::{DomainError, Validator};
use crate::pagination::PageRequest;
use crate::photos::{sha256_hex, BlobStore, FsBlobStore};
use crate::sealed_blobs::{SealedBlobStore, SealingKey};
use crate::store::{on_read, on_tx, Store};

/// What the archive accepts: PDF only (a signed contract is a PDF in every office workflow,
/// and one type means one viewer and no active content types to police).
pub const CONTENT_TYPE: &str = "application/pdf";

/// The archive's directory under the data directory (`<data_dir>/documents`), named once for the
/// API that stores there and the backups that copy it.
pub const DATA_SUBDIR: &str = "documents";
/// The trees under [`DATA_SUBDIR`]: documents stored as uploaded, and sealed ones.
pub const TREES: [&str; 2] = ["plain", "sealed"];

/// Where documents' bytes are kept: plain under `<root>/plain`, sealed under `<root>/sealed`.
/// Two trees, because a content-addressed store ignores a second write under a key it has: a
/// file uploaded once without a key and again with one must not be recorded as sealed while
/// its bytes on disk are plain.
pub struct Archive {
    plain: Arc<dyn BlobStore>,
    sealed: Option<SealedBlobStore>,
    /// Largest upload, in bytes.
    pub max_bytes: usize,
}

impl Archive {
    pub fn new(root: &std::path::Path, key: Option<&SealingKey>, max_bytes: usize) -> Archive {
        Archive {
            plain: Arc::new(FsBlobStore::new(root.join(TREES[0]))),
            sealed: key
                .map(|k| SealedBlobStore::new(Arc::new(FsBlobStore::new(root.join(TREES[1]))), k)),
            max_bytes,
        }
    }
}

/// A document to add to a contract.
pub struct Upload {
    pub bytes: Vec<u8>,
    pub filename: String,
    pub title: Option<String>,
    pub signed_on: Option<NaiveDate>,
}

/// Whether `bytes` is a PDF file: the `%PDF-` header at the start and the `%%EOF` marker in
/// the last kilobyte, as the PDF specification (ISO 32000) places them. Not a parser: it keeps
/// out what is plainly something else (a photo, a Word file, a truncated upload).
pub fn looks_like_pdf(bytes: &[u8]) -> bool {
    let tail = &bytes[bytes.len().saturating_sub(1024)..];
    bytes.starts_with(b"%PDF-") && tail.windows(5).any(|w| w == b"%%EOF")
}

/// The name a file is kept under: its last path component, without control characters, at
/// most 200 characters (it goes into a `Content-Disposition` header on download).
fn clean_filename(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    base.chars()
        .filter(|c| !c.is_control() && *c != '"')
        .take(200)
        .collect::<String>()
        .trim()
        .to_owned()
}

#[derive(sqlx::FromRow)]
struct DocumentRow {
    id: Uuid,
    contract_id: Uuid,
    contract_number: String,
    customer_id: Uuid,
    customer_name: String,
    sha256: String,
    size_bytes: i64,
    content_type: String,
    filename: String,
    title: Option<String>,
    signed_on: Option<NaiveDate>,
    sealed: bool,
    uploaded_by: Option<Uuid>,
    uploaded_at: chrono::DateTime<chrono::Utc>,
}

impl DocumentRow {
    fn into_document(self) -> ContractDocument {
        ContractDocument {
            id: self.id,
            contract_id: self.contract_id,
            contract_number: self.contract_number,
            customer_id: self.customer_id,
            customer_name: self.customer_name,
            sha256: self.sha256,
            size_bytes: u64::try_from(self.size_bytes).unwrap_or_default(),
            content_type: self.content_type,
            filename: self.filename,
            title: self.title,
            signed_on: self.signed_on,
            sealed: self.sealed,
            uploaded_by: self.uploaded_by,
            uploaded_at: self.uploaded_at,
        }
    }
}

const SELECT: &str = "SELECT d.id, d.contract_id, c.number AS contract_number, c.customer_id, \
     cu.legal_name AS customer_name, d.sha256, d.size_bytes, d.content_type, d.filename, d.title, \
     d.signed_on, d.sealed, d.uploaded_by, d.uploaded_at \
     FROM contract_documents d JOIN contracts c ON c.id = d.contract_id \
     JOIN customers cu ON cu.id = c.customer_id";

/// The contract's number, customer and customer name; not found when there is no such contract.
async fn contract_header(
    store: &Store,
    contract_id: Uuid,
) -> Result<(String, Uuid, String), DomainError> {
    let contract: Option<(String, Uuid, String)> = on_read!(store, |p| sqlx::query_as(
        "SELECT c.number, c.customer_id, cu.legal_name FROM contracts c \
         JOIN customers cu ON cu.id = c.customer_id WHERE c.id = $1"
    )
    .bind(contract_id)
    .fetch_optional(p)
    .await)?;
    contract.ok_or(DomainError::not_found(Entity::Contract))
}

/// Not found unless the contract exists: lets the HTTP layer answer 404 for an upload to no
/// contract before it reads a large body.
pub async fn require_contract(store: &Store, contract_id: Uuid) -> Result<(), DomainError> {
    contract_header(store, contract_id).await.map(|_| ())
}

/// Adds a document to a contract: checks it (PDF, size, names), stores the bytes (sealed when
/// the archive has a key), then records the row and its audit entry in one transaction. The
/// bytes are written first and are content-addressed, so a failed transaction leaves at most an
/// unreferenced blob, never a row without bytes.
pub async fn upload(
    store: &Store,
    archive: &Archive,
    actor: &Actor,
    contract_id: Uuid,
    upload: Upload,
) -> Result<ContractDocument, DomainError> {
    if upload.bytes.len() > archive.max_bytes {
        return Err(DomainError::conflict(
            ErrorCode::PayloadTooLarge,
            format!("the document is larger than {} bytes", archive.max_bytes),
        ));
    }
    if !looks_like_pdf(&upload.bytes) {
        return Err(DomainError::conflict(
            ErrorCode::NotAPdf,
            "the contract archive keeps PDF documents only (no %PDF- header or %%EOF marker)",
        ));
    }
    let filename = clean_filename(&upload.filename);
    let title = upload
        .title
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty());
    let mut v = Validator::new();
    if filename.is_empty() {
        v.add("filename", "must name the file");
    }
    if title.as_ref().is_some_and(|t| t.chars().count() > 200) {
        v.add("title", "must be at most 200 characters");
    }
    v.finish()?;

    // The contract first, so an upload to no contract stores nothing.
    let (contract_number, customer_id, customer_name) = contract_header(store, contract_id).await?;

    let sha = sha256_hex(&upload.bytes);
    let size = upload.bytes.len();
    let sealed = archive.sealed.is_some();
    match &archive.sealed {
        Some(s) => s.put(&sha, upload.bytes).await?,
        None => archive.plain.put(&sha, upload.bytes).await?,
    }

    let mut tx = store.begin().await?;
    let doc = ContractDocument {
        id: clock::new_id(),
        contract_id,
        contract_number,
        customer_id,
        customer_name,
        sha256: sha,
        size_bytes: size as u64,
        content_type: CONTENT_TYPE.into(),
        filename,
        title,
        signed_on: upload.signed_on,
        sealed,
        uploaded_by: actor.user_id,
        uploaded_at: clock::now(),
    };
    on_tx!(
        &mut tx,
        execute(
            sqlx::query(
                "INSERT INTO contract_documents (id, contract_id, sha256, size_bytes, \
                 content_type, filename, title, signed_on, sealed, uploaded_by, uploaded_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
            )
            .bind(doc.id)
            .bind(doc.contract_id)
            .bind(&doc.sha256)
            .bind(size as i64)
            .bind(&doc.content_type)
            .bind(&doc.filename)
            .bind(&doc.title)
            .bind(doc.signed_on)
            .bind(doc.sealed)
            .bind(doc.uploaded_by)
            .bind(doc.uploaded_at)
        )
    )
    .map_err(|e| {
        e.unique_as(ErrorCode::AlreadyExists, || {
            "this contract already holds this file (same SHA-256)".into()
        })
    })?;
    tx.commit_audited(
        actor,
        Change::created(Entity::ContractDocument, doc.id, &doc),
    )
    .await?;
    Ok(doc)
}

/// A contract's documents, oldest first (a contract holds a handful).
pub async fn for_contract(
    store: &Store,
    contract_id: Uuid,
) -> Result<Vec<ContractDocument>, DomainError> {
    let sql = format!("{SELECT} WHERE d.contract_id = $1 ORDER BY d.id");
    let rows: Vec<DocumentRow> = on_read!(store, |p| sqlx::query_as(&sql)
        .bind(contract_id)
        .fetch_all(p)
        .await)?;
    if rows.is_empty() {
        let exists: Option<i32> = on_read!(store, |p| sqlx::query_scalar(
            "SELECT 1 FROM contracts WHERE id = $1"
        )
        .bind(contract_id)
        .fetch_optional(p)
        .await)?;
        if exists.is_none() {
            return Err(DomainError::not_found(Entity::Contract));
        }
    }
    Ok(rows.into_iter().map(DocumentRow::into_document).collect())
}

/// Searches the archive: by customer, by an asset code on one of the contract's lines, by
/// signing day; keyset-paged in upload order.
pub async fn search(
    store: &Store,
    filter: &DocumentSearch,
    page: PageRequest,
) -> Result<Page<ContractDocument>, DomainError> {
    if let (Some(from), Some(to)) = (filter.signed_from, filter.signed_to) {
        if to < from {
            return Err(DomainError::field(
                "signed_to",
                "must not be before signed_from",
            ));
        }
    }
    // Codes are stored upper-case (what a label prints); people type either.
    let code = filter
        .asset_code
        .as_deref()
        .map(|c| c.trim().to_uppercase())
        .filter(|c| !c.is_empty());
    let sql = format!(
        "{SELECT} WHERE ($1 IS NULL OR c.customer_id = $1) \
         AND ($2 IS NULL OR EXISTS (SELECT 1 FROM contract_lines l JOIN assets a ON a.id = l.asset_id \
              WHERE l.contract_id = d.contract_id AND a.code = $2)) \
         AND ($3 IS NULL OR d.signed_on >= $3) AND ($4 IS NULL OR d.signed_on <= $4) \
         AND ($5 IS NULL OR d.id > $5) ORDER BY d.id LIMIT $6"
    );
    let rows: Vec<DocumentRow> = on_read!(store, |p| sqlx::query_as(&sql)
        .bind(filter.customer_id)
        .bind(code.as_deref())
        .bind(filter.signed_from)
        .bind(filter.signed_to)
        .bind(page.after)
        .bind(page.fetch())
        .fetch_all(p)
        .await)?;
    Ok(page.page(rows, |r| r.id, DocumentRow::into_document))
}

/// A document and its bytes, for download. Every download is an audit entry (who read which
/// signed contract when): it commits before the bytes are returned.
pub async fn download(
    store: &Store,
    archive: &Archive,
    actor: &Actor,
    contract_id: Uuid,
    document_id: Uuid,
) -> Result<(ContractDocument, Vec<u8>), DomainError> {
    let sql = format!("{SELECT} WHERE d.id = $1 AND d.contract_id = $2");
    let row: Option<DocumentRow> = on_read!(store, |p| sqlx::query_as(&sql)
        .bind(document_id)
        .bind(contract_id)
        .fetch_optional(p)
        .await)?;
    let doc = row
        .ok_or(DomainError::not_found(Entity::ContractDocument))?
        .into_document();
    let bytes = if doc.sealed {
        let sealed = archive.sealed.as_ref().ok_or_else(|| {
            DomainError::Config(format!(
                "document {} is sealed and no documents key is configured",
                doc.id
            ))
        })?;
        sealed.get(&doc.sha256).await?
    } else {
        archive.plain.get(&doc.sha256).await?
    }
    // A row without bytes means the blob store lost them: an operator problem, not a 404.
    .ok_or_else(|| {
        DomainError::Internal(format!("document {} is recorded but not stored", doc.id))
    })?;
    let tx = store.begin().await?;
    tx.commit_audited(
        actor,
        Change::action(
            "contract_document.download",
            Entity::ContractDocument,
            doc.id,
        )
        .after(&serde_json::json!({"contract_id": doc.contract_id, "sha256": doc.sha256})),
    )
    .await?;
    Ok((doc, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pdf_sniffing() {
        assert!(looks_like_pdf(b"%PDF-1.7\n...\n%%EOF\n"));
        assert!(!looks_like_pdf(b"%PDF-1.7 truncated"));
        assert!(!looks_like_pdf(b"\x89PNG\r\n\x1a\n %%EOF"));
        assert!(!looks_like_pdf(b""));
        // The marker must be near the end: one followed by a kilobyte and more is not the end.
        let mut far = b"%PDF-1.4 %%EOF".to_vec();
        far.extend(std::iter::repeat_n(b' ', 2000));
        assert!(!looks_like_pdf(&far));
    }

    #[test]
    fn filenames_are_cleaned() {
        assert_eq!(
            clean_filename("C:\\scans\\contract 12.pdf"),
            "contract 12.pdf"
        );
        assert_eq!(clean_filename("../../etc/passwd"), "passwd");
        assert_eq!(clean_filename("a\"b\r\n.pdf"), "ab.pdf");
        assert_eq!(clean_filename("dir/"), "");
        assert_eq!(clean_filename(&"x".repeat(300)).len(), 200);
    }
}
