//! Writes the page rows of a version: its `pages`, the `page_contents` not yet known and their
//! rendition jobs. Every writer of a version (filing's first, a correction's next) inserts its
//! pages here.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::codec::{SCAN_WARNING_SEPARATOR, encode};
use super::content_destructions::revive_destroyed_contents;
use super::orphans::guard_contents;
use crate::domain::PageInfo;
use crate::storage::StorageError;

/// Inserts the pages of one version, and each page content not yet known, reviving contents
/// a disposal or the orphan collector queued for deletion (see content_destructions.rs and
/// orphans.rs; `uploads_began` is PostgreSQL's clock before the first page object was
/// written). Filing and correction both write pages here.
pub(super) async fn insert_pages(
    tx: &mut Transaction<'_, Postgres>,
    document_id: Uuid,
    version: u32,
    pages: &[PageInfo],
    uploads_began: DateTime<Utc>,
) -> Result<(), StorageError> {
    // The same content may appear on several pages; insert each once.
    let mut seen = HashSet::new();
    let contents: Vec<&PageInfo> = pages.iter().filter(|p| seen.insert(p.sha256)).collect();
    let digests: Vec<Vec<u8>> = contents.iter().map(|p| p.sha256.0.to_vec()).collect();
    // Before the rows: no orphan collector may queue these contents until the commit.
    guard_contents(tx, &digests).await?;
    // A content stored for the first time is queued for its renditions in the same statement
    // (see renditions.rs): committed with its pages, or not at all.
    sqlx::query(
        "WITH stored AS (
             INSERT INTO page_contents (sha256, media_type, size_bytes, rendition_state)
             SELECT *, 'pending' FROM UNNEST($1::bytea[], $2::text[], $3::bigint[])
             ON CONFLICT (sha256) DO NOTHING
             RETURNING sha256)
         INSERT INTO rendition_jobs (sha256) SELECT sha256 FROM stored",
    )
    .bind(&digests)
    .bind(
        contents
            .iter()
            .map(|p| encode(p.media_type))
            .collect::<Vec<_>>(),
    )
    .bind(
        contents
            .iter()
            .map(|p| p.size_bytes as i64)
            .collect::<Vec<_>>(),
    )
    .execute(&mut **tx)
    .await?;
    revive_destroyed_contents(tx, &digests, uploads_began).await?;
    // Each page's scan warnings travel joined into one text (NULL: not judged), since UNNEST
    // cannot take an array of arrays of different lengths.
    sqlx::query(
        r#"INSERT INTO pages (document_id, version, page_number, sha256, scan_warnings)
           SELECT $1, $2, u.page_number, u.sha256,
                  CASE WHEN u.warnings = '' THEN '{}'::text[]
                       ELSE string_to_array(u.warnings, E'\x1f') END
           FROM UNNEST($3::int[], $4::bytea[], $5::text[]) AS u(page_number, sha256, warnings)"#,
    )
    .bind(document_id)
    .bind(version as i32)
    .bind(pages.iter().map(|p| p.number as i32).collect::<Vec<_>>())
    .bind(
        pages
            .iter()
            .map(|p| p.sha256.0.to_vec())
            .collect::<Vec<_>>(),
    )
    .bind(
        pages
            .iter()
            .map(|p| {
                p.scan
                    .warnings
                    .as_ref()
                    .map(|w| w.join(&SCAN_WARNING_SEPARATOR.to_string()))
            })
            .collect::<Vec<_>>(),
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}
