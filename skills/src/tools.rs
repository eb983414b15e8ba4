//! A package's tools (`tools.json`): what the built-in agent may call once it has loaded
//! the skill. A tool runs a command in the office, or makes an HTTP request through one
//! of the workspace's upstreams, so the office's proxy adds the credential and the agent
//! never holds it. Each tool is described to the model by its name, description and
//! JSON-schema parameters; how it is called is Nova's business, not the model's.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The tools file of a package, beside its `SKILL.md`.
pub const TOOLS_FILE: &str = "tools.json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tool {
    pub name: String,
    pub description: String,
    /// A JSON schema of `"type": "object"`: the arguments the model passes.
    #[serde(default = "no_parameters")]
    pub parameters: Value,
    /// A shell command run in the office's working directory, the arguments as JSON on
    /// its stdin and in `NOVA_TOOL_ARGS`, the package's directory in `SKILL_DIR`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpCall>,
}

fn no_parameters() -> Value {
    serde_json::json!({"type": "object", "properties": {}})
}

/// An HTTP request through an upstream, filled from the model's arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpCall {
    /// An `[[upstreams]]` name: the office's proxy adds its credential.
    pub upstream: String,
    pub method: String,
    /// Under the upstream's base URL; `{name}` takes the argument `name`, encoded.
    pub path: String,
    /// Arguments sent as query parameters (an array as the parameter repeated).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub query: Vec<String>,
    /// Arguments sent as request headers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Body>,
}

/// Which argument is the request body, and how it is sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Body {
    pub argument: String,
    #[serde(default)]
    pub encoding: Encoding,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    #[default]
    Json,
    /// `application/x-www-form-urlencoded`, nested values as `a[b][0]=v`.
    Form,
}

/// The request an [`HttpCall`] makes: what to send to `{proxy}/{upstream}{path}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// The path under the upstream, with its query string.
    pub path: String,
    pub headers: Vec<(String, String)>,
    /// The content type and the body.
    pub body: Option<(&'static str, String)>,
}

const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// The most tools one package may hold: what one model request can carry, less the
/// built-in agent's own.
pub const MAX_TOOLS: usize = 100;

/// The tools of a `tools.json`, or the line that is wrong and why.
pub fn parse_tools(text: &str) -> Result<Vec<Tool>, (usize, String)> {
    let tools: Vec<Tool> = serde_json::from_str(text).map_err(|error| (error.line(), error.to_string()))?;
    if tools.len() > MAX_TOOLS {
        return Err((1, format!("{} tools: a package holds at most {MAX_TOOLS}", tools.len())));
    }
    for (index, tool) in tools.iter().enumerate() {
        let earlier = tools[..index].iter().filter(|earlier| earlier.name == tool.name).count();
        let line = line_of(text, &tool.name, earlier);
        if earlier > 0 {
            return Err((line, format!("tool `{}` is defined twice", tool.name)));
        }
        tool.check().map_err(|message| (line, format!("tool `{}`: {message}", tool.name)))?;
    }
    Ok(tools)
}

/// The line of the `nth` (from 0) `"name": "<name>"`, for an error about that tool.
fn line_of(text: &str, name: &str, nth: usize) -> usize {
    let quoted = format!("\"{name}\"");
    let mut lines = text.lines().enumerate().filter(|(_, line)| line.contains("\"name\"") && line.contains(&quoted));
    lines.nth(nth).map_or(1, |(index, _)| index + 1)
}

impl Tool {
    fn check(&self) -> Result<(), String> {
        if self.name.is_empty()
            || self.name.len() > 64
            || !self.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err("a name is 1 to 64 of a-z, A-Z, 0-9, `_` and `-`".to_owned());
        }
        if self.description.trim().is_empty() {
            return Err("it needs a description: it is how the model knows when to call it".to_owned());
        }
        if self.parameters["type"] != "object" {
            return Err("`parameters` must be a JSON schema of `\"type\": \"object\"`".to_owned());
        }
        let properties = &self.parameters["properties"];
        if !(properties.is_null() || properties.is_object()) {
            return Err("`parameters.properties` must be an object".to_owned());
        }
        let argument = |name: &str, what: &str| match properties.get(name) {
            Some(_) => Ok(()),
            None => Err(format!("{what} `{name}` is not one of its parameters")),
        };
        match (&self.command, &self.http) {
            (Some(command), None) if !command.trim().is_empty() => Ok(()),
            (Some(_), None) => Err("`command` is empty".to_owned()),
            (None, Some(http)) => {
                if http.upstream.trim().is_empty() {
                    return Err("`http.upstream` is empty".to_owned());
                }
                if !METHODS.contains(&http.method.to_ascii_uppercase().as_str()) {
                    return Err(format!("`{}` is not an HTTP method ({})", http.method, METHODS.join(", ")));
                }
                if !http.path.starts_with('/') {
                    return Err("`http.path` starts with `/`".to_owned());
                }
                for placeholder in placeholders(&http.path)? {
                    argument(placeholder, "the path's")?;
                }
                for name in &http.query {
                    argument(name, "the query's")?;
                }
                for name in &http.headers {
                    argument(name, "the header")?;
                }
                if let Some(body) = &http.body {
                    argument(&body.argument, "the body")?;
                }
                Ok(())
            }
            _ => Err("a tool has either a `command` or an `http` call, not both or neither".to_owned()),
        }
    }
}

/// The `{name}`s in a path template.
fn placeholders(path: &str) -> Result<Vec<&str>, String> {
    let mut found = Vec::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        let end = rest[start..].find('}').ok_or_else(|| format!("`{path}` has a `{{` without its `}}`"))?;
        found.push(&rest[start + 1..start + end]);
        rest = &rest[start + end + 1..];
    }
    Ok(found)
}

/// A scalar as it goes into a URL or a header; `None` for null.
fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(text) => Some(text.clone()),
        Value::Bool(_) | Value::Number(_) => Some(value.to_string()),
        Value::Array(_) | Value::Object(_) => Some(value.to_string()),
    }
}

/// What a path segment may hold unencoded: RFC 3986's unreserved characters.
const SEGMENT: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

impl HttpCall {
    /// The request these arguments make, or what is wrong with them (for the model).
    pub fn request(&self, arguments: &Value) -> Result<Request, String> {
        let given = |name: &str| arguments.get(name).filter(|value| !value.is_null());
        let mut path = String::with_capacity(self.path.len());
        let mut rest = self.path.as_str();
        for name in placeholders(&self.path)? {
            let start = rest.find('{').expect("a placeholder was found here");
            path.push_str(&rest[..start]);
            let value = given(name).and_then(scalar).ok_or_else(|| format!("`{name}` is required"))?;
            if value.is_empty() {
                return Err(format!("`{name}` may not be empty"));
            }
            path.extend(percent_encoding::utf8_percent_encode(&value, SEGMENT));
            rest = &rest[start + name.len() + 2..];
        }
        path.push_str(rest);
        let mut query = form_urlencoded::Serializer::new(String::new());
        let mut any = false;
        for name in &self.query {
            match given(name) {
                Some(Value::Array(items)) => {
                    for item in items.iter().filter_map(scalar) {
                        query.append_pair(name, &item);
                        any = true;
                    }
                }
                Some(value) => {
                    query.append_pair(name, &scalar(value).unwrap_or_default());
                    any = true;
                }
                None => {}
            }
        }
        if any {
            path.push('?');
            path.push_str(&query.finish());
        }
        let headers =
            self.headers.iter().filter_map(|name| Some((name.clone(), given(name).and_then(scalar)?))).collect();
        let body = match (&self.body, self.body.as_ref().and_then(|body| given(&body.argument))) {
            (Some(body), Some(value)) => Some(match body.encoding {
                Encoding::Json => ("application/json", value.to_string()),
                Encoding::Form => {
                    let mut form = form_urlencoded::Serializer::new(String::new());
                    flatten_form(&mut form, &body.argument, value, true);
                    ("application/x-www-form-urlencoded", form.finish())
                }
            }),
            _ => None,
        };
        Ok(Request { method: self.method.to_ascii_uppercase(), path, headers, body })
    }
}

/// A form body the way form-encoded APIs read nested values: `a[b]=1&a[c][0]=x`.
fn flatten_form(form: &mut form_urlencoded::Serializer<String>, key: &str, value: &Value, top: bool) {
    match value {
        Value::Null => {}
        Value::Object(fields) => {
            for (name, field) in fields {
                let key = if top { name.clone() } else { format!("{key}[{name}]") };
                flatten_form(form, &key, field, false);
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                flatten_form(form, &format!("{key}[{index}]"), item, false);
            }
        }
        _ => {
            form.append_pair(key, &scalar(value).unwrap_or_default());
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn call(path: &str, query: &[&str], body: Option<Encoding>) -> HttpCall {
        HttpCall {
            upstream: "api".into(),
            method: "post".into(),
            path: path.into(),
            query: query.iter().map(|q| q.to_string()).collect(),
            headers: vec!["x-request-id".into()],
            body: body.map(|encoding| Body { argument: "body".into(), encoding }),
        }
    }

    #[test]
    fn a_request_fills_the_path_query_headers_and_body_from_the_arguments() {
        let call = call("/repos/{owner}/{repo}/pulls", &["state", "labels", "page"], Some(Encoding::Json));
        let request = call
            .request(&json!({
                "owner": "acme", "repo": "a b/../c", "state": "open", "labels": ["bug", "p1"], "page": null,
                "x-request-id": 7, "body": {"title": "Fix"}
            }))
            .unwrap();
        assert_eq!(request.method, "POST");
        assert_eq!(request.path, "/repos/acme/a%20b%2F..%2Fc/pulls?state=open&labels=bug&labels=p1");
        assert_eq!(request.headers, [("x-request-id".to_owned(), "7".to_owned())]);
        assert_eq!(request.body, Some(("application/json", r#"{"title":"Fix"}"#.to_owned())));
        assert_eq!(call.request(&json!({"owner": "acme"})).unwrap_err(), "`repo` is required");
        assert_eq!(call.request(&json!({"owner": "", "repo": "r"})).unwrap_err(), "`owner` may not be empty");
    }

    #[test]
    fn a_form_body_nests_the_way_form_encoded_apis_read_it() {
        let call = call("/v1/customers", &[], Some(Encoding::Form));
        let arguments =
            json!({"body": {"email": "a@b.co", "metadata": {"plan": "pro"}, "expand": ["x", "y"], "balance": 5}});
        let (content_type, body) = call.request(&arguments).unwrap().body.unwrap();
        assert_eq!(content_type, "application/x-www-form-urlencoded");
        assert_eq!(body, "balance=5&email=a%40b.co&expand%5B0%5D=x&expand%5B1%5D=y&metadata%5Bplan%5D=pro");
    }

    #[test]
    fn a_tools_file_is_checked_and_says_which_line_is_wrong() {
        let good = r#"[
  {"name": "deploy", "description": "Deploy a service.", "command": "sh $SKILL_DIR/deploy.sh"},
  {"name": "get_pet", "description": "A pet.", "parameters": {"type": "object", "properties": {"id": {"type": "integer"}}},
   "http": {"upstream": "pets", "method": "GET", "path": "/pets/{id}"}}
]"#;
        let tools = parse_tools(good).unwrap();
        assert_eq!(tools.len(), 2);
        assert_eq!(tools[0].parameters, no_parameters());

        let cases = [
            (
                good.replace("/pets/{id}", "/pets/{pet_id}"),
                3,
                "tool `get_pet`: the path's `pet_id` is not one of its parameters",
            ),
            (good.replace("\"GET\"", "\"FETCH\""), 3, "tool `get_pet`: `FETCH` is not an HTTP method"),
            (good.replace("\"deploy\"", "\"get_pet\""), 3, "tool `get_pet` is defined twice"),
            (good.replace("\"Deploy a service.\"", "\" \""), 2, "tool `deploy`: it needs a description"),
            (good.replace("deploy\", \"description", "deploy me\", \"description"), 2, "tool `deploy me`: a name is"),
            (
                good.replace(
                    "\"command\": \"sh $SKILL_DIR/deploy.sh\"",
                    "\"command\": \"x\", \"http\": {\"upstream\": \"a\", \"method\": \"GET\", \"path\": \"/\"}",
                ),
                2,
                "tool `deploy`: a tool has either a `command` or an `http` call",
            ),
            (good.replace("\"upstream\"", "\"upsteam\""), 4, "unknown field `upsteam`"),
            (good.replace("\"object\"", "\"array\""), 3, "tool `get_pet`: `parameters` must be a JSON schema"),
        ];
        for (text, line, message) in cases {
            let (got_line, got) = parse_tools(&text).unwrap_err();
            assert!(got.starts_with(message), "{got}");
            assert_eq!(got_line, line, "{got}");
        }
    }
}
