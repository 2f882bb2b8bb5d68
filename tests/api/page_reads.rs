//! Reads of one page or a few: ReadPage and SignPageUrls look up only the pages they serve
//! (not every page of a hundred-page archive), and answer exactly as a whole-document read
//! would — also when lookups of the same document for other pages and for all of it are
//! answered by one statement.

use custodian::domain::{DocumentName, PageSpan};
use custodian::proto::v1 as pb;
use tonic::Code;

use crate::helpers::{TestApp, Token, filing, header, jpeg_page, sha256_hex, spawn_app};
use crate::page_links::{request, sign};

const ACCOUNT: &str = "1201000093";
const PAGES: usize = 6;

/// An app with a document of six distinct pages.
async fn six_pages() -> (TestApp, pb::Document, Vec<Vec<u8>>) {
    let mut app = spawn_app().await;
    app.create_customer(ACCOUNT).await;
    let pages: Vec<Vec<u8>> = (1..=PAGES)
        .map(|n| jpeg_page(2_000 + n * 100, n as u64))
        .collect();
    let document = app
        .file(filing(header(ACCOUNT, "six-pages"), &pages, 1000))
        .await
        .unwrap();
    (app, document, pages)
}

#[tokio::test]
async fn each_page_read_alone_is_that_page_and_one_past_the_end_is_not_found() {
    let (mut app, document, pages) = six_pages().await;
    for (number, bytes) in (1..).zip(&pages) {
        let (page, read) = app
            .read_page(&format!("{}/pages/{number}", document.name))
            .await
            .unwrap();
        assert_eq!(page.page_number, number);
        assert_eq!(page.sha256, sha256_hex(bytes));
        assert_eq!(page.size_bytes, bytes.len() as i64);
        assert_eq!(&read, bytes);
    }
    let past = app
        .read_page(&format!("{}/pages/{}", document.name, PAGES + 1))
        .await
        .unwrap_err();
    assert_eq!(past.code(), Code::NotFound);
    assert!(past.message().contains("fewer pages"), "{}", past.message());
}

#[tokio::test]
async fn urls_for_some_pages_are_for_those_pages_and_a_missing_one_names_the_page_count() {
    let (app, document, pages) = six_pages().await;
    let custodian = Token::custodian();
    let urls = sign(&app, &custodian, request(&document.name, &[5, 2], 0))
        .await
        .unwrap();
    let linked: Vec<(i32, String)> = urls
        .iter()
        .map(|url| {
            let page = url.page.as_ref().unwrap();
            (page.page_number, page.sha256.clone())
        })
        .collect();
    assert_eq!(
        linked,
        [(5, sha256_hex(&pages[4])), (2, sha256_hex(&pages[1]))]
    );
    assert!(urls.iter().all(|url| !url.url.is_empty()));

    let all = sign(&app, &custodian, request(&document.name, &[], 0))
        .await
        .unwrap();
    assert_eq!(all.len(), PAGES);

    let missing = sign(&app, &custodian, request(&document.name, &[2, 9], 0))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    assert!(
        missing.message().contains("pages/9") && missing.message().contains("has 6 pages"),
        "{}",
        missing.message()
    );
}

#[tokio::test]
async fn lookups_of_one_document_for_different_pages_answered_together_each_get_their_own() {
    let (app, document, pages) = six_pages().await;
    let database = app.database();
    let name = DocumentName::parse("name", &document.name).unwrap();
    // Sent in one go, so the readers find many waiting and answer them in shared statements:
    // whole-document lookups and single-page ones of the same document side by side.
    let spans: Vec<PageSpan> = (0..64)
        .map(|n| match n % 4 {
            0 => PageSpan::ALL,
            3 => PageSpan { first: 2, last: 4 },
            _ => PageSpan::only(n % PAGES as u32 + 1),
        })
        .collect();
    let found = futures::future::join_all(
        spans
            .iter()
            .map(|span| database.document_pages(&name, *span)),
    )
    .await;
    for (span, found) in spans.iter().zip(found) {
        let (document, _) = found.unwrap().expect("the document is found");
        let listed: Vec<(u32, String)> = document
            .pages
            .iter()
            .map(|page| (page.number, page.sha256.to_hex()))
            .collect();
        let expected: Vec<(u32, String)> = (1..)
            .zip(&pages)
            .filter(|(number, _)| (span.first..=span.last).contains(number))
            .map(|(number, bytes)| (number, sha256_hex(bytes)))
            .collect();
        assert_eq!(listed, expected, "{span:?}");
        assert_eq!(
            document.page_count, PAGES as u32,
            "the count is of every page"
        );
    }
}
