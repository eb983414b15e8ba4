//! The console in a real browser: headless Chromium driven through chromedriver.

use std::process::Stdio;
use std::time::Duration;

use fantoccini::{ClientBuilder, Locator};
use tokio::io::AsyncBufReadExt;

use crate::harness::Nova;
use orchestrator::store::Surface;

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
    let mut child = tokio::process::Command::new(path)
        .arg(format!("--port={port}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // chromedriver says when it is ready; wait for that line (with a guard, not a delay).
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains("started successfully") {
                return true;
            }
        }
        false
    });
    assert!(ready.await.unwrap_or(false), "chromedriver did not start");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Some((child, port))
}

fn which(program: &str) -> Result<std::path::PathBuf, ()> {
    std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|p| p.join(program)).find(|p| p.is_file()))
        .ok_or(())
}

/// A headless Chromium session, driven through chromedriver on `port`.
async fn browser(port: u16, profile: &tempfile::TempDir) -> fantoccini::Client {
    // fantoccini's TLS stack brings a second rustls crypto provider: pick one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let capabilities = serde_json::json!({
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                     "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--window-size=1280,900", format!("--user-data-dir={}", profile.path().display())]
        }
    });
    ClientBuilder::rustls()
        .unwrap()
        .capabilities(capabilities.as_object().unwrap().clone())
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .unwrap()
}

/// Waits until the page shows `xpath` (the browser polls; the test does not sleep).
async fn shows(browser: &fantoccini::Client, xpath: &str) {
    let found = browser
        .wait()
        .at_most(Duration::from_secs(60))
        .every(Duration::from_millis(50))
        .for_element(Locator::XPath(xpath))
        .await;
    if let Err(error) = found {
        // What it showed instead, and where it was.
        let address = browser.current_url().await.map(|url| url.to_string()).unwrap_or_default();
        let page = browser.source().await.unwrap_or_default();
        panic!("the page never showed {xpath}: {error}\nat {address}:\n{page}");
    }
}

/// The element `css` names once it is laid out and displayed: a click on one the page
/// has not shown yet fails as "not interactable".
async fn displayed(browser: &fantoccini::Client, css: &str) -> fantoccini::elements::Element {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(element) = browser.find(Locator::Css(css)).await
            && element.is_displayed().await.unwrap_or(false)
        {
            return element;
        }
        assert!(std::time::Instant::now() < deadline, "the page never displayed {css}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Signs in as `name` by opening a login link (what `nova login` prints), then opens `page`.
async fn sign_in(browser: &fantoccini::Client, nova: &Nova, name: &str, page: &str) {
    let (_, token) = nova.engine().issue_login_link(Some(name)).await.unwrap().unwrap();
    browser.goto(&nova.url(&format!("/login?token={token}"))).await.unwrap();
    // The link lands on `/`, which opens its first channel and writes it into the
    // address: wait until it has, or it overwrites the address set next.
    shows(browser, "//body[@data-ready='true']").await;
    // From there a `#channel` alone is a same-page jump, which the page follows while a
    // reload could catch the address half-way (the channel written, the thread not yet):
    // a query makes it a new page, loaded with the whole address from the start.
    let fresh = page.replacen("/#", "/?fresh#", 1);
    browser.goto(&nova.url(&fresh)).await.unwrap();
    shows(browser, "//body[@data-ready='true']").await;
    shows(browser, &format!("//strong[@id='me' and text()='{name}']")).await;
}

async fn start_thread(browser: &fantoccini::Client, text: &str) {
    browser.find(Locator::Id("new-text")).await.unwrap().send_keys(text).await.unwrap();
    browser.find(Locator::Id("new-send")).await.unwrap().click().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_posts_in_the_console_and_watches_the_office_work() {
    let Some((_driver, port)) = chromedriver().await else { return };
    let nova = Nova::start().await;
    let profile = tempfile::tempdir().unwrap();
    let browser = browser(port, &profile).await;
    sign_in(&browser, &nova, "alice", "/#payments").await;
    shows(&browser, "//li[@data-office='maker']/span[@data-state='asleep']").await;
    start_thread(&browser, "the coupon field rejects valid codes, please fix").await;
    shows(&browser, "//li[contains(@class,'message') and contains(., 'Routing to maker')]").await;
    shows(&browser, "//li[contains(@class,'result') and contains(., 'Example runtime')]").await;
    shows(&browser, "//li[@data-office='maker']/span[@data-state='idle']").await;
    let person = browser.find(Locator::XPath("//li[contains(@class,'person')]")).await.unwrap().text().await.unwrap();
    assert!(person.starts_with("alice"), "{person}");

    if let Ok(dir) = std::env::var("NOVA_SCREENSHOT_DIR") {
        let png = browser.screenshot().await.unwrap();
        std::fs::write(std::path::Path::new(&dir).join("console.png"), png).unwrap();
    }

    // A link to another channel, then back to the thread, followed in the same tab.
    let thread = nova.engine().threads_in_channel(Surface::Console, "payments").await.unwrap().remove(0).id;
    browser.goto(&nova.url("/#eng")).await.unwrap();
    shows(&browser, "//div[@id='thread-view' and @hidden]").await;
    shows(&browser, "//h2[@id='channel-title' and text()='#eng']").await;
    browser.goto(&nova.url(&format!("/#payments/{thread}"))).await.unwrap();
    shows(&browser, "//div[@id='thread-view' and not(@hidden)]//li[contains(@class,'result')]").await;
    browser.close().await.unwrap();
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approver_approves_in_the_console_after_confirming() {
    let Some((_driver, port)) = chromedriver().await else { return };
    let nova = Nova::start_with(crate::asks::with_approvals(Duration::from_secs(600))).await;
    let profile = tempfile::tempdir().unwrap();
    let browser = browser(port, &profile).await;
    sign_in(&browser, &nova, "alice", "/#eng").await;
    start_thread(&browser, "@maker drop the legacy_orders table").await;
    shows(&browser, "//li[contains(@class,'card')]//button[@data-action='approve']").await;
    shows(&browser, "//ul[@id='approvals']/li[contains(., 'drop the table legacy_orders')]").await;
    if let Ok(dir) = std::env::var("NOVA_SCREENSHOT_DIR") {
        let png = browser.screenshot().await.unwrap();
        std::fs::write(std::path::Path::new(&dir).join("approval.png"), png).unwrap();
    }

    let thread = nova.engine().threads_in_channel(Surface::Console, "eng").await.unwrap().remove(0).id;
    sign_in(&browser, &nova, "carol", &format!("/#eng/{thread}")).await;
    shows(&browser, "//li[contains(@class,'card')]//button[@data-action='approve']").await;
    browser.find(Locator::XPath("//button[@data-action='approve']")).await.unwrap().click().await.unwrap();
    let question = browser.get_alert_text().await.unwrap();
    assert!(question.starts_with("Approve: drop the table legacy_orders?"), "{question}");
    browser.accept_alert().await.unwrap();

    shows(&browser, "//li[contains(@class,'result') and contains(., 'dropped legacy_orders')]").await;
    shows(&browser, "//li[contains(@class,'message') and contains(., 'Approved by carol')]").await;
    shows(&browser, "//ul[@id='approvals']/li[@class='empty']").await;
    let buttons = browser.find_all(Locator::XPath("//button[@data-action='approve']")).await.unwrap();
    assert!(buttons.is_empty(), "the buttons are gone once decided");
    browser.close().await.unwrap();
    nova.finish().await;
}

/// Works until the test lets it finish (a file in its workspace).
const WAITS_FOR_GO: &str = r#"while [ ! -f "$NOVA_WORKSPACE/go" ]; do sleep 0.05; done; echo "cart migrated""#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_board_shows_the_chain_of_command_and_a_task_moving_live() {
    let Some((_driver, port)) = chromedriver().await else { return };
    let nova = Nova::start_with(|config| {
        let maker = &mut config.offices[0];
        maker.budget_usd = Some(50.0);
        maker.runtime.as_mut().unwrap().command = vec!["sh".into(), "-c".into(), WAITS_FOR_GO.into()];
    })
    .await;
    // What maker's runs reported this month: 40% of its budget.
    let usage = orchestrator::store::AuditEntry {
        actor: "maker".into(),
        office: Some("maker".into()),
        run_id: None,
        action: "usage",
        details: serde_json::json!({"model": "m", "input_tokens": 1000, "output_tokens": 100, "cost_usd": 20.0}),
    };
    nova.engine().store().audit(usage).await.unwrap();
    let profile = tempfile::tempdir().unwrap();
    let browser = browser(port, &profile).await;
    sign_in(&browser, &nova, "alice", "/#board").await;
    // The operator reports to maker: it sits below it.
    shows(&browser, "//ul[@id='org']/li[div[@data-office='maker']]/ul/li/div[@data-office='operator']").await;
    shows(&browser, "//div[@data-office='maker']//span[@data-state='asleep']").await;
    shows(&browser, "//div[@data-office='maker' and contains(., '$20.00 of $50.00 this month')]").await;

    let task = serde_json::json!({"title": "migrate the cart table", "owner": "maker"});
    let (status, _) = nova.post_json("/api/tasks", &serde_json::json!({"task": task, "client_id": "board-1"})).await;
    assert_eq!(status, 202);
    // Live, without a reload: the office wakes and holds the task.
    shows(&browser, "//div[@data-office='maker']//div[@class='task' and text()='#1 migrate the cart table']").await;
    shows(&browser, "//div[@data-office='maker']//span[@data-state='ready']").await;
    shows(&browser, "//table[@id='tasks']//tr[@data-task='1' and @data-state='claimed']").await;
    if let Ok(dir) = std::env::var("NOVA_SCREENSHOT_DIR") {
        let png = browser.screenshot().await.unwrap();
        std::fs::write(std::path::Path::new(&dir).join("board.png"), png).unwrap();
    }

    // A second task waits for the first; from the board it is cancelled, then given
    // back to maker, and runs once the first is done.
    let follow_up = serde_json::json!({"title": "drop the old cart table", "owner": "maker", "depends_on": [1]});
    let (status, _) =
        nova.post_json("/api/tasks", &serde_json::json!({"task": follow_up, "client_id": "board-2"})).await;
    assert_eq!(status, 202);
    shows(&browser, "//table[@id='tasks']//tr[@data-task='2' and @data-state='open']").await;
    displayed(&browser, "tr[data-task='2'] button[data-change='cancel']").await.click().await.unwrap();
    shows(&browser, "//table[@id='tasks']//tr[@data-task='2' and @data-state='cancelled']").await;
    displayed(&browser, "tr[data-task='2'] button[data-change='assign']").await.click().await.unwrap();
    shows(&browser, "//table[@id='tasks']//tr[@data-task='2' and @data-state='open']").await;

    std::fs::write(nova.data_dir.path().join("offices/maker/workspace/go"), "").unwrap();
    shows(&browser, "//table[@id='tasks']//tr[@data-task='1' and @data-state='done']").await;
    shows(&browser, "//table[@id='tasks']//tr[@data-task='2' and @data-state='done']").await;
    // Two results this week: one for each task.
    shows(&browser, "//table[@id='week']//tr[@data-office='maker']/td[4][contains(., '2')]").await;
    let held = browser.find_all(Locator::XPath("//div[@data-office='maker']//div[@class='task']")).await.unwrap();
    assert!(held.is_empty(), "a done task is no longer held");
    browser.close().await.unwrap();
    nova.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_asks_for_a_new_office_from_the_board_form() {
    let Some((_driver, port)) = chromedriver().await else { return };
    let nova = Nova::start_with(|config| {
        config.roles.insert("operator".into(), vec!["alice".into(), "bob".into()]);
    })
    .await;
    let profile = tempfile::tempdir().unwrap();
    let browser = browser(port, &profile).await;
    sign_in(&browser, &nova, "alice", "/#board").await;
    displayed(&browser, "#fleet-change summary").await.click().await.unwrap();
    // Only the fields the action takes show.
    let repo = browser.find(Locator::Id("fleet-repo")).await.unwrap();
    assert!(!repo.is_displayed().await.unwrap(), "a new office has no repo field");
    for (field, text) in [("fleet-office", "scribe"), ("fleet-role", "Release notes"), ("fleet-boss", "writer")] {
        browser.find(Locator::Id(field)).await.unwrap().send_keys(text).await.unwrap();
    }
    browser.find(Locator::Id("fleet-send")).await.unwrap().click().await.unwrap();
    // The thread it opens shows the approval card, for someone else to decide.
    shows(&browser, "//li[contains(@class,'card') and contains(., 'create the office scribe: “Release notes”; reporting to writer')]").await;
    shows(&browser, "//ul[@id='approvals']/li[contains(., 'create the office scribe')]").await;
    assert!(nova.engine().config().office("scribe").is_none(), "nothing changes before the approval");
    browser.close().await.unwrap();
    nova.finish().await;
}
