//! Page URLs for renditions: a browser shows a TIFF scan through its preview's URL, which
//! serves exactly the JPEG that ReadPage streams and cannot be turned into another content.

use custodian::links::{PageLinkMode, PageLinkSettings};
use custodian::proto::v1 as pb;
use image::GenericImageView as _;
use reqwest::StatusCode;
use reqwest::header;

use crate::helpers::{TestConfig, Token, sha256_hex, spawn_app, spawn_app_with};
use crate::page_links::{request, sign};
use crate::renditions::{ACCOUNT, file_pages, read_rendition, scan, settled};

fn rendition_request(name: &str, rendition: pb::Rendition) -> pb::SignPageUrlsRequest {
    pb::SignPageUrlsRequest {
        rendition: rendition.into(),
        ..request(name, &[], 0)
    }
}

#[tokio::test]
async fn a_preview_url_of_a_tiff_serves_the_jpeg_read_page_streams_and_cannot_be_widened() {
    let mut app = spawn_app().await;
    app.create_customer(ACCOUNT).await;
    let pages = [scan("fax-g4-two-pages.tif"), scan("contract-cmyk.tif")];
    let name = file_pages(&mut app, "tiff-urls", "supply-contract", &pages).await;
    settled(&app, &name).await;
    let token = Token::custodian();
    let mut clients = app.clients_as(&token);

    for (rendition, long_side) in [
        (pb::Rendition::Preview, 1600),
        (pb::Rendition::Thumbnail, 256),
    ] {
        let urls = sign(&app, &token, rendition_request(&name, rendition))
            .await
            .unwrap();
        assert_eq!(urls.len(), 2);
        for (number, url) in (1..).zip(&urls) {
            let page = url.page.as_ref().unwrap();
            assert_eq!(page.page_number, number);
            assert_eq!(page.media_type, "image/jpeg");
            let (read, bytes) = read_rendition(
                &mut clients.pages,
                &format!("{name}/pages/{number}"),
                rendition,
            )
            .await
            .unwrap();
            assert_eq!(page.sha256, read.sha256);
            assert_eq!(page.sha256, sha256_hex(&bytes));

            let response = reqwest::get(&url.url).await.unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{}", url.url);
            assert_eq!(response.headers()[header::CONTENT_TYPE], "image/jpeg");
            assert_eq!(
                response.headers()[header::ETAG],
                format!("\"{}\"", page.sha256).as_str()
            );
            let served = response.bytes().await.unwrap();
            assert_eq!(&served[..], &bytes[..]);
            let image = image::load_from_memory_with_format(&served, image::ImageFormat::Jpeg)
                .expect("a JPEG every browser shows");
            let (width, height) = image.dimensions();
            assert!(width.max(height) <= long_side, "{width}×{height}");
        }

        // Another rendition, the original, or another source under the same signature: 403.
        let url = &urls[0].url;
        let other_kind = if rendition == pb::Rendition::Preview {
            url.replace("rendition=preview", "rendition=thumbnail")
        } else {
            url.replace("rendition=thumbnail", "rendition=preview")
        };
        let source = url
            .split("&source=")
            .nth(1)
            .and_then(|rest| rest.split('&').next())
            .unwrap()
            .to_owned();
        let original = url
            .replace(&format!("&rendition={}", rendition_name(rendition)), "")
            .replace(&format!("&source={source}"), "");
        let other_source = url.replace(&source, &sha256_hex(b"another page"));
        for forged in [other_kind, original, other_source] {
            assert_ne!(&forged, url);
            let response = reqwest::get(&forged).await.unwrap();
            assert_eq!(response.status(), StatusCode::FORBIDDEN, "{forged}");
        }
    }
}

fn rendition_name(rendition: pb::Rendition) -> &'static str {
    match rendition {
        pb::Rendition::Thumbnail => "thumbnail",
        pb::Rendition::Preview => "preview",
        pb::Rendition::Original => "original",
    }
}

#[tokio::test]
async fn a_rendition_not_made_yet_gets_no_url_and_says_it_is_pending() {
    let mut app = spawn_app_with(TestConfig {
        rendition_workers: 0,
        ..TestConfig::default()
    })
    .await;
    app.create_customer(ACCOUNT).await;
    let name = file_pages(&mut app, "pending", "notice", &[scan("contract-cmyk.jpg")]).await;
    let token = Token::custodian();
    let urls = sign(
        &app,
        &token,
        rendition_request(&name, pb::Rendition::Preview),
    )
    .await
    .unwrap();
    assert_eq!(urls.len(), 1);
    assert_eq!(urls[0].url, "");
    let page = urls[0].page.as_ref().unwrap();
    assert_eq!(page.rendition_state(), pb::RenditionState::Pending);
    // The original is linked as ever.
    let originals = sign(&app, &token, request(&name, &[], 0)).await.unwrap();
    assert!(!originals[0].url.is_empty());
}

#[tokio::test]
async fn a_presigned_preview_url_is_served_by_the_s3_store() {
    let mut app = spawn_app_with(TestConfig {
        page_links: PageLinkSettings {
            mode: PageLinkMode::Presigned,
            ..PageLinkSettings::default()
        },
        ..TestConfig::default()
    })
    .await;
    app.create_customer(ACCOUNT).await;
    let name = file_pages(&mut app, "presigned", "notice", &[scan("grey-16bit.tif")]).await;
    settled(&app, &name).await;
    let token = Token::custodian();
    let urls = sign(
        &app,
        &token,
        rendition_request(&name, pb::Rendition::Preview),
    )
    .await
    .unwrap();
    let (_, bytes) = read_rendition(
        &mut app.clients_as(&token).pages,
        &format!("{name}/pages/1"),
        pb::Rendition::Preview,
    )
    .await
    .unwrap();
    let response = reqwest::get(&urls[0].url).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{}", urls[0].url);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "image/jpeg");
    assert_eq!(&response.bytes().await.unwrap()[..], &bytes[..]);
}

#[tokio::test]
async fn the_page_urls_command_prints_preview_urls_a_plain_client_loads() {
    let mut app = spawn_app().await;
    app.create_customer(ACCOUNT).await;
    let pages = [scan("contract-cmyk.tif"), scan("fax-g4-two-pages.tif")];
    let name = file_pages(&mut app, "cli-urls", "supply-contract", &pages).await;
    settled(&app, &name).await;
    let token = Token::custodian();
    let (_, printed) = crate::lending_cli::custodian(
        &app,
        &token,
        &[
            "page-urls",
            &name,
            "--rendition",
            "preview",
            "--lifetime",
            "60",
        ],
    )
    .await;
    let lines: Vec<(&str, &str)> = printed
        .lines()
        .map(|line| line.split_once('\t').expect("number, tab, URL"))
        .collect();
    assert_eq!(
        lines.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        ["1", "2"]
    );
    let mut clients = app.clients_as(&token);
    for (number, url) in lines {
        let (_, bytes) = read_rendition(
            &mut clients.pages,
            &format!("{name}/pages/{number}"),
            pb::Rendition::Preview,
        )
        .await
        .unwrap();
        let response = reqwest::get(url).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{url}");
        assert_eq!(&response.bytes().await.unwrap()[..], &bytes[..]);
    }
}
