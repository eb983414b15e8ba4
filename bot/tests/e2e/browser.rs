//! The console in a real browser: headless Chromium driven through chromedriver.

use std::process::Stdio;
use std::time::Duration;

use fantoccini::{ClientBuilder, Locator};

use crate::harness::Nova;

/// Starts chromedriver on a free port, or returns `None` (failing under CI, where the
/// browser must be installed) when it is missing.
async fn chromedriver() -> Option<(tokio::process::Child, u16)> {
    let Ok(path) = which("chromedriver") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromedriver is not installed (apt-get install chromium chromium-driver)"
        );
        eprintln!("SKIPPED: chromedriver is not installed; the browser story did not run");
        return None;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = tokio::process::Command::new(path)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // chromedriver gives no readiness signal but its port: wait for it to accept.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(tokio::time::Instant::now() < deadline, "chromedriver did not start");
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Some((child, port))
}

fn which(program: &str) -> Result<std::path::PathBuf, ()> {
    std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|p| p.join(program)).find(|p| p.is_file()))
        .ok_or(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_posts_in_the_console_and_watches_the_office_work() {
    let Some((_driver, port)) = chromedriver().await else {
        return;
    };
    // fantoccini's TLS stack brings a second rustls crypto provider: pick one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let nova = Nova::start().await;
    let profile = tempfile::tempdir().unwrap();
    let capabilities = serde_json::json!({
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                     "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--window-size=1280,900", format!("--user-data-dir={}", profile.path().display())]
        }
    });
    let browser = ClientBuilder::rustls()
        .unwrap()
        .capabilities(capabilities.as_object().unwrap().clone())
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .unwrap();
    browser.goto(&nova.url("/#payments")).await.unwrap();
    let wait = |what: &'static str| {
        browser
            .wait()
            .at_most(Duration::from_secs(60))
            .every(Duration::from_millis(50))
            .for_element(Locator::XPath(what))
    };

    wait("//li[@data-office='maker']/span[@data-state='asleep']").await.unwrap();
    let author = browser.find(Locator::Id("author")).await.unwrap();
    author.clear().await.unwrap();
    author.send_keys("alice").await.unwrap();
    browser
        .find(Locator::Id("new-text"))
        .await
        .unwrap()
        .send_keys("the coupon field rejects valid codes, please fix")
        .await
        .unwrap();
    browser.find(Locator::Id("new-send")).await.unwrap().click().await.unwrap();

    wait("//li[contains(@class,'message') and contains(., 'Routing to maker')]").await.unwrap();
    wait("//li[contains(@class,'result') and contains(., 'Example runtime')]").await.unwrap();
    wait("//li[@data-office='maker']/span[@data-state='idle']").await.unwrap();
    let person = browser.find(Locator::XPath("//li[contains(@class,'person')]")).await.unwrap().text().await.unwrap();
    assert!(person.starts_with("alice"), "{person}");

    if let Ok(dir) = std::env::var("NOVA_SCREENSHOT_DIR") {
        let png = browser.screenshot().await.unwrap();
        std::fs::write(std::path::Path::new(&dir).join("console.png"), png).unwrap();
    }
    browser.close().await.unwrap();
    nova.finish().await;
}
