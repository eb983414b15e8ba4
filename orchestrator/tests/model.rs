//! The router's model stage against the OpenAI-compatible stand-in, fault by fault.

use std::time::Duration;

use orchestrator::config::{Config, ModelSettings};
use orchestrator::router::model::{ModelRouter, Outcome};
use orchestrator::router::{RepoChoice, Route, RouteRequest, Router, Stage};
use serde_json::json;
use testkit::openai::{FakeOpenAi, Reply};

fn settings(fake: &FakeOpenAi, timeout: Duration) -> ModelSettings {
    ModelSettings {
        model: "router-small".into(),
        base_url: fake.base_url.clone(),
        api_key: Some("sk-test".into()),
        timeout,
        below_confidence: 0.75,
    }
}

const UNCLEAR: RouteRequest<'static> = RouteRequest {
    channel: "general",
    thread: &[],
    text: "the numbers look off",
    thread_office: None,
    thread_repo: None,
    channel_picks: &[],
};

async fn ask(
    reply: impl Fn(&FakeOpenAi),
    timeout: Duration,
) -> (Route, orchestrator::router::model::ModelCall, FakeOpenAi) {
    let fake = FakeOpenAi::start().await.unwrap();
    reply(&fake);
    let config = Config::demo();
    let offline = Router::new(&config).route(&UNCLEAR);
    assert_eq!(offline.office, None, "the offline router is unsure of this one");
    let model = ModelRouter::new(&config, settings(&fake, timeout));
    assert!(model.should_ask(&offline));
    let (route, call) = model.route(&UNCLEAR, offline).await;
    (route, call, fake)
}

fn analyst() -> serde_json::Value {
    json!({"repo": "none", "office": "analyst", "confidence": 0.8, "alternatives": ["writer"], "reason": "numbers are data"})
}

#[tokio::test]
async fn an_unsure_message_is_routed_by_the_model() {
    let (route, call, fake) = ask(|f| f.always(Reply::Json(analyst())), Duration::from_secs(5)).await;
    assert_eq!((route.office.as_deref(), &route.repo, route.stage), (Some("analyst"), &RepoChoice::None, Stage::Model));
    assert_eq!(call.outcome, Outcome::Answered);
    assert!(call.prompt_tokens > 50 && call.completion_tokens > 0);

    let request = &fake.requests()[0];
    assert_eq!(request["model"], "router-small");
    assert_eq!(request["response_format"]["type"], "json_schema");
    assert_eq!(request["response_format"]["json_schema"]["strict"], true);
    let offices = &request["response_format"]["json_schema"]["schema"]["properties"]["office"]["enum"];
    assert_eq!(offices, &json!(["maker", "operator", "analyst", "writer", "support", "unknown"]));
    assert!(request["messages"][0]["content"].as_str().unwrap().ends_with("Message: the numbers look off\n"));
}

#[tokio::test]
async fn a_slow_model_falls_back_to_the_offline_answer() {
    let slow = |f: &FakeOpenAi| f.always(Reply::Slow(Duration::from_secs(30), Box::new(Reply::Json(analyst()))));
    let (route, call, _) = ask(slow, Duration::from_millis(200)).await;
    assert_eq!((route.office, route.stage, call.outcome), (None, Stage::Scorer, Outcome::TimedOut));
}

#[tokio::test]
async fn a_rate_limit_is_retried_within_the_deadline() {
    let script = |f: &FakeOpenAi| {
        f.then(Reply::RateLimited);
        f.always(Reply::Json(analyst()));
    };
    let (route, call, fake) = ask(script, Duration::from_secs(5)).await;
    assert_eq!((route.office.as_deref(), call.outcome), (Some("analyst"), Outcome::Answered));
    assert_eq!(fake.requests().len(), 2, "one 429, one retry after Retry-After");
}

#[tokio::test]
async fn server_errors_fall_back_after_bounded_retries() {
    let (route, call, fake) = ask(|f| f.always(Reply::ServerError), Duration::from_secs(30)).await;
    assert_eq!((route.office, route.stage, call.outcome), (None, Stage::Scorer, Outcome::ServerError));
    assert_eq!(fake.requests().len(), 4, "the first try and three retries, no more");
}

#[tokio::test]
async fn truncated_output_falls_back() {
    let truncated = |f: &FakeOpenAi| f.always(Reply::Content(r#"{"repo": "none", "office": "anal"#.into()));
    let (route, call, _) = ask(truncated, Duration::from_secs(5)).await;
    assert_eq!((route.stage, call.outcome), (Stage::Scorer, Outcome::Malformed));
}

#[tokio::test]
async fn made_up_names_are_rejected() {
    let invented =
        json!({"repo": "none", "office": "data-wizard", "confidence": 0.9, "alternatives": [], "reason": ""});
    let (route, call, _) = ask(|f| f.always(Reply::Json(invented.clone())), Duration::from_secs(5)).await;
    assert_eq!((route.stage, call.outcome), (Stage::Scorer, Outcome::UnknownName));
    let invented_repo =
        json!({"repo": "warehouse", "office": "analyst", "confidence": 0.9, "alternatives": [], "reason": ""});
    let (_, call, _) = ask(|f| f.always(Reply::Json(invented_repo.clone())), Duration::from_secs(5)).await;
    assert_eq!(call.outcome, Outcome::UnknownName);
}

#[tokio::test]
async fn json_wrapped_in_prose_is_repaired() {
    let wrapped = format!("Here you go:\n```json\n{}\n```", analyst());
    let (route, call, _) = ask(|f| f.always(Reply::Content(wrapped.clone())), Duration::from_secs(5)).await;
    assert_eq!((route.office.as_deref(), call.outcome), (Some("analyst"), Outcome::Answered));
}

#[tokio::test]
async fn an_unsure_model_still_asks_the_person() {
    let unsure =
        json!({"repo": "unknown", "office": "analyst", "confidence": 0.3, "alternatives": ["maker"], "reason": ""});
    let (route, call, _) = ask(|f| f.always(Reply::Json(unsure.clone())), Duration::from_secs(5)).await;
    assert_eq!((route.office, route.stage, call.outcome), (None, Stage::Model, Outcome::Answered));
    assert_eq!(route.alternatives[0], "maker");
}

#[tokio::test]
async fn the_model_is_not_asked_when_the_offline_router_is_sure() {
    let fake = FakeOpenAi::start().await.unwrap();
    let config = Config::demo();
    let model = ModelRouter::new(&config, settings(&fake, Duration::from_secs(1)));
    let sure = Router::new(&config).route(&RouteRequest {
        channel: "payments",
        text: "refunds fail with a Stripe error, please fix",
        ..Default::default()
    });
    assert!(!model.should_ask(&sure));
}

#[test]
fn the_router_prompt() {
    let fake_settings = ModelSettings {
        model: "m".into(),
        base_url: "http://127.0.0.1:9/v1".into(),
        api_key: None,
        timeout: Duration::from_secs(1),
        below_confidence: 0.75,
    };
    let model = ModelRouter::new(&Config::demo(), fake_settings);
    let thread = vec!["The app freezes on checkout on Android".to_owned()];
    let request =
        RouteRequest { channel: "eng", thread: &thread, text: "same on my phone, fix it?", ..Default::default() };
    insta::assert_snapshot!(model.render_prompt(&request));
}
