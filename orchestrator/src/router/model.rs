//! The model stage: an OpenAI-compatible chat model, asked only when the offline
//! scorer is unsure. Structured output (json_schema, strict) with a validate-and-repair
//! fallback for servers that ignore it; names not in the config are rejected; a
//! timeout, a 429/5xx or malformed output falls back to the offline answer. Retries
//! are async-openai's own (at most 3, honouring `Retry-After`), all inside the timeout.

use std::time::{Duration, Instant};

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::types::chat::{
    ChatCompletionRequestMessage, ChatCompletionRequestUserMessage, CreateChatCompletionRequestArgs, ResponseFormat,
    ResponseFormatJsonSchema,
};
use handlebars::Handlebars;
use serde::Deserialize;
use serde_json::json;

use super::{RepoChoice, Route, RouteRequest, Stage};
use crate::config::{Config, ModelSettings};

/// What one call to the model cost and how it ended.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelCall {
    pub outcome: Outcome,
    pub latency: Duration,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The model's answer was used.
    Answered,
    TimedOut,
    RateLimited,
    ServerError,
    /// Not JSON of the expected shape.
    Malformed,
    /// It named a repo or office that does not exist.
    UnknownName,
    /// Anything else (connection refused, 4xx…).
    Failed,
}

impl Outcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Answered => "answered",
            Self::TimedOut => "timed_out",
            Self::RateLimited => "rate_limited",
            Self::ServerError => "server_error",
            Self::Malformed => "malformed",
            Self::UnknownName => "unknown_name",
            Self::Failed => "failed",
        }
    }
}

#[derive(Debug, Deserialize)]
struct Answer {
    repo: String,
    office: String,
    confidence: f64,
    #[serde(default)]
    alternatives: Vec<String>,
    #[serde(default)]
    #[allow(dead_code)]
    reason: String,
}

pub struct ModelRouter {
    client: Client<OpenAIConfig>,
    settings: ModelSettings,
    prompt: Handlebars<'static>,
    context: serde_json::Value,
    repos: Vec<String>,
    offices: Vec<String>,
    min_confidence: f64,
}

/// A client for the configured model server.
pub(crate) fn openai_client(settings: &ModelSettings) -> Client<OpenAIConfig> {
    let mut openai = OpenAIConfig::new().with_api_base(settings.base_url.clone());
    if let Some(key) = &settings.api_key {
        openai = openai.with_api_key(key.clone());
    }
    Client::with_config(openai)
}

impl ModelRouter {
    pub fn new(config: &Config, settings: ModelSettings) -> Self {
        let prompt = crate::context::prompt_templates(&[("router", include_str!("../../../prompts/router.hbs"))]);
        let context = json!({
            "workspace": config.workspace.name,
            "repos": config.repos.iter().map(|r| json!({"name": r.name, "description": r.description, "hints": r.hints, "channels": r.channels})).collect::<Vec<_>>(),
            "offices": config.offices.iter().map(|o| json!({"name": o.name, "role": o.role, "repos": o.repos, "channels": o.channels})).collect::<Vec<_>>(),
        });
        Self {
            client: openai_client(&settings),
            settings,
            prompt,
            context,
            repos: config.repos.iter().map(|r| r.name.clone()).collect(),
            offices: config.offices.iter().map(|o| o.name.clone()).collect(),
            min_confidence: config.router.min_confidence,
        }
    }

    /// Whether an offline route is unsure enough to ask the model.
    pub fn should_ask(&self, offline: &Route) -> bool {
        offline.stage == Stage::Scorer && offline.confidence < self.settings.below_confidence
    }

    pub fn render_prompt(&self, request: &RouteRequest<'_>) -> String {
        let mut data = self.context.clone();
        data["channel"] = json!(request.channel);
        data["thread"] = json!(request.thread);
        data["text"] = json!(request.text);
        self.prompt.render("router", &data).expect("the router prompt renders")
    }

    /// Asks the model; on any failure returns the offline route unchanged.
    pub async fn route(&self, request: &RouteRequest<'_>, offline: Route) -> (Route, ModelCall) {
        let started = Instant::now();
        let prompt = self.render_prompt(request);
        let mut call =
            ModelCall { outcome: Outcome::Failed, latency: Duration::ZERO, prompt_tokens: 0, completion_tokens: 0 };
        let mut route = offline.clone();
        call.outcome = match tokio::time::timeout(self.settings.timeout, self.ask(&prompt)).await {
            Err(_) => Outcome::TimedOut,
            Ok(Err(outcome)) => outcome,
            Ok(Ok((content, prompt_tokens, completion_tokens))) => {
                call.prompt_tokens = prompt_tokens;
                call.completion_tokens = completion_tokens;
                match self.validate(&content, &offline) {
                    Ok(answer) => {
                        route = answer;
                        Outcome::Answered
                    }
                    Err(outcome) => outcome,
                }
            }
        };
        call.latency = started.elapsed();
        metrics::histogram!("nova_router_model_seconds").record(call.latency.as_secs_f64());
        metrics::counter!("nova_router_model_calls_total", "outcome" => call.outcome.as_str()).increment(1);
        metrics::counter!("nova_router_model_tokens_total", "kind" => "prompt").increment(call.prompt_tokens.into());
        metrics::counter!("nova_router_model_tokens_total", "kind" => "completion")
            .increment(call.completion_tokens.into());
        (route, call)
    }

    async fn ask(&self, prompt: &str) -> Result<(String, u32, u32), Outcome> {
        let schema = json!({
            "type": "object",
            "properties": {
                "repo": {"type": "string", "enum": self.repos.iter().map(String::as_str).chain(["none", "unknown"]).collect::<Vec<_>>()},
                "office": {"type": "string", "enum": self.offices.iter().map(String::as_str).chain(["unknown"]).collect::<Vec<_>>()},
                "confidence": {"type": "number"},
                "alternatives": {"type": "array", "items": {"type": "string"}},
                "reason": {"type": "string"}
            },
            "required": ["repo", "office", "confidence", "alternatives", "reason"],
            "additionalProperties": false
        });
        let request = CreateChatCompletionRequestArgs::default()
            .model(self.settings.model.clone())
            .messages(vec![ChatCompletionRequestMessage::User(ChatCompletionRequestUserMessage::from(prompt))])
            .response_format(ResponseFormat::JsonSchema {
                json_schema: ResponseFormatJsonSchema {
                    description: Some("Where a chat message should be routed".to_owned()),
                    name: "route".to_owned(),
                    schema,
                    strict: Some(true),
                },
            })
            .temperature(0.0)
            .max_completion_tokens(200u32)
            .build()
            .map_err(|_| Outcome::Failed)?;
        let response = self.client.chat().create(request).await.map_err(|error| classify(&error))?;
        let usage = response.usage.as_ref();
        let content = response.choices.into_iter().next().and_then(|c| c.message.content).ok_or(Outcome::Malformed)?;
        Ok((content, usage.map_or(0, |u| u.prompt_tokens), usage.map_or(0, |u| u.completion_tokens)))
    }

    /// Parses the answer (repairing a fenced or wrapped JSON object) and checks every
    /// name against the config.
    fn validate(&self, content: &str, offline: &Route) -> Result<Route, Outcome> {
        let json = extract_json(content).ok_or(Outcome::Malformed)?;
        let answer: Answer = serde_json::from_str(json).map_err(|_| Outcome::Malformed)?;
        let office = match answer.office.as_str() {
            "unknown" => None,
            name if self.offices.iter().any(|o| o == name) => Some(name.to_owned()),
            _ => return Err(Outcome::UnknownName),
        };
        let repo = match answer.repo.as_str() {
            "none" => RepoChoice::None,
            "unknown" => RepoChoice::Unknown,
            name if self.repos.iter().any(|r| r == name) => RepoChoice::Named(name.to_owned()),
            _ => return Err(Outcome::UnknownName),
        };
        if answer.alternatives.iter().any(|a| !self.offices.contains(a)) {
            return Err(Outcome::UnknownName);
        }
        let confidence = answer.confidence.clamp(0.0, 1.0);
        let office = office.filter(|_| confidence >= self.min_confidence);
        let mut alternatives = answer.alternatives;
        for name in &offline.alternatives {
            if !alternatives.contains(name) {
                alternatives.push(name.clone());
            }
        }
        Ok(Route {
            repo: if office.is_some() { repo } else { RepoChoice::Unknown },
            office,
            confidence,
            alternatives,
            stage: Stage::Model,
        })
    }
}

pub(crate) fn classify(error: &async_openai::error::OpenAIError) -> Outcome {
    use async_openai::error::OpenAIError;
    let text = error.to_string().to_lowercase();
    match error {
        OpenAIError::JSONDeserialize(..) => Outcome::Malformed,
        OpenAIError::Reqwest(e) if e.is_timeout() => Outcome::TimedOut,
        _ if text.contains("429") || text.contains("rate limit") || text.contains("rate_limit") => Outcome::RateLimited,
        _ if text.contains("500")
            || text.contains("502")
            || text.contains("503")
            || text.contains("server_error")
            || text.contains("internal") =>
        {
            Outcome::ServerError
        }
        _ => Outcome::Failed,
    }
}

/// The first `{ … }` object in the text (models sometimes wrap JSON in prose or fences).
fn extract_json(content: &str) -> Option<&str> {
    let start = content.find('{')?;
    let end = content.rfind('}')?;
    (end > start).then(|| &content[start..=end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_found_inside_fences_and_prose() {
        assert_eq!(extract_json("```json\n{\"a\":1}\n```"), Some("{\"a\":1}"));
        assert_eq!(extract_json("Sure! {\"a\":1} hope this helps"), Some("{\"a\":1}"));
        assert_eq!(extract_json("{\"a\":"), None);
    }
}
