//! A skill package from an OpenAPI 3.0 or 3.1 description (`nova skill from-openapi`):
//! one tool per operation, its parameters and body as JSON schema with every local
//! `$ref` spelled out, and a `SKILL.md` that says what the API is and which tool does
//! what. Every tool calls the API through an upstream, so the office's proxy adds the
//! credential and the agent never holds the key.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::tools::{Body, Encoding, HttpCall, MAX_TOOLS, Tool};

/// A generated package: its `SKILL.md`, its tools, and what was left out and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Generated {
    pub skill_md: String,
    pub tools: Vec<Tool>,
    pub left_out: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenApiError {
    #[error("the spec is neither JSON nor YAML: {0}")]
    Unreadable(String),
    #[error("this is a Swagger 2.0 spec: convert it to OpenAPI 3 first (for example with swagger2openapi)")]
    Swagger2,
    #[error("the spec has no `openapi: 3.x` version (it says {0})")]
    NotOpenApi(String),
    #[error("no tag {unknown} in the spec (its tags: {known})")]
    UnknownTags { unknown: String, known: String },
    #[error("no operation to make a tool of{0}")]
    NoOperations(String),
    #[error(
        "the spec has {count} operations, more than the {MAX_TOOLS} tools a skill may hold: pick tags with --only (the biggest: {tags})"
    )]
    TooMany { count: usize, tags: String },
}

/// What the generator is asked for.
#[derive(Debug, Clone)]
pub struct Options<'a> {
    /// The package's name.
    pub name: &'a str,
    /// The `[[upstreams]]` entry the tools call through.
    pub upstream: &'a str,
    /// Only operations with one of these tags (none: every operation).
    pub only_tags: &'a [String],
}

const METHODS: &[&str] = &["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/// How deep nested `$ref`s are spelled out before a schema just names what it is.
const MAX_REF_DEPTH: usize = 4;

/// The longest description kept for a tool, a parameter or a property.
const MAX_DESCRIPTION: usize = 300;

/// Query parameters that page through a list, in the names APIs use.
const PAGING: &[&str] = &[
    "page",
    "per_page",
    "page_size",
    "pageSize",
    "limit",
    "offset",
    "cursor",
    "starting_after",
    "ending_before",
    "after",
    "before",
    "page_token",
    "pageToken",
    "next_token",
];

pub fn parse(text: &str) -> Result<Value, OpenApiError> {
    if text.trim_start().starts_with('{') {
        serde_json::from_str(text).map_err(|e| OpenApiError::Unreadable(e.to_string()))
    } else {
        serde_yaml_ng::from_str(text).map_err(|e| OpenApiError::Unreadable(e.to_string()))
    }
}

/// The package for `spec` (parsed with [`parse`]).
pub fn generate(spec: &Value, options: &Options) -> Result<Generated, OpenApiError> {
    let version = match (&spec["openapi"], &spec["swagger"]) {
        (Value::String(version), _) if version.starts_with("3.") => version.clone(),
        (_, Value::String(_)) => return Err(OpenApiError::Swagger2),
        (other, _) => return Err(OpenApiError::NotOpenApi(other.to_string())),
    };
    let operations = operations(spec);
    let mut tag_counts: BTreeMap<&str, usize> = BTreeMap::new();
    for operation in &operations {
        for tag in &operation.tags {
            *tag_counts.entry(tag.as_str()).or_default() += 1;
        }
    }
    let unknown: Vec<&String> = options.only_tags.iter().filter(|t| !tag_counts.contains_key(t.as_str())).collect();
    if !unknown.is_empty() {
        let unknown = unknown.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(", ");
        return Err(OpenApiError::UnknownTags { unknown, known: biggest(&tag_counts, usize::MAX) });
    }
    let chosen: Vec<&Operation> = operations
        .iter()
        .filter(|op| options.only_tags.is_empty() || op.tags.iter().any(|t| options.only_tags.contains(t)))
        .collect();
    if chosen.len() > MAX_TOOLS {
        return Err(OpenApiError::TooMany { count: chosen.len(), tags: biggest(&tag_counts, 12) });
    }
    let mut names = Names::default();
    let mut tools = Vec::new();
    let mut left_out = Vec::new();
    for operation in chosen {
        match tool(spec, operation, options.upstream, &mut names) {
            Ok(tool) => tools.push(tool),
            Err(reason) => left_out.push(format!("{} {}: {reason}", operation.method.to_uppercase(), operation.path)),
        }
    }
    if tools.is_empty() {
        let why = if left_out.is_empty() { String::new() } else { format!(" ({})", left_out.join("; ")) };
        return Err(OpenApiError::NoOperations(why));
    }
    let skill_md = skill_md(spec, &version, options, &tools, &left_out);
    Ok(Generated { skill_md, tools, left_out })
}

/// Writes the package into `dir` (its `SKILL.md` and `tools.json`), replacing what was there.
pub fn write(dir: &std::path::Path, generated: &Generated) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("SKILL.md"), &generated.skill_md)?;
    let tools = serde_json::to_string_pretty(&generated.tools).expect("tools serialize");
    std::fs::write(dir.join(crate::tools::TOOLS_FILE), tools + "\n")
}

/// The tags with the most operations, for an error that says which to pick.
fn biggest(counts: &BTreeMap<&str, usize>, at_most: usize) -> String {
    let mut sorted: Vec<(&&str, &usize)> = counts.iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let shown: Vec<String> = sorted.iter().take(at_most).map(|(tag, n)| format!("{tag} ({n})")).collect();
    let more = sorted.len().saturating_sub(at_most);
    if more > 0 { format!("{} and {more} more", shown.join(", ")) } else { shown.join(", ") }
}

struct Operation<'a> {
    path: &'a str,
    method: &'a str,
    item: &'a Value,
    op: &'a Value,
    tags: Vec<String>,
}

fn operations(spec: &Value) -> Vec<Operation<'_>> {
    let mut found = Vec::new();
    let Some(paths) = spec["paths"].as_object() else { return found };
    for (path, item) in paths {
        let item = resolve(spec, item);
        for method in METHODS {
            if let Some(op) = item.get(*method).filter(|op| op.is_object()) {
                let tags = op["tags"].as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_owned);
                found.push(Operation { path, method, item, op, tags: tags.collect() });
            }
        }
    }
    found
}

/// What a local `$ref` points at (the value itself when it is not one).
fn resolve<'a>(spec: &'a Value, value: &'a Value) -> &'a Value {
    let mut value = value;
    for _ in 0..8 {
        match value["$ref"].as_str().and_then(|r| r.strip_prefix('#')).and_then(|p| spec.pointer(p)) {
            Some(target) => value = target,
            None => break,
        }
    }
    value
}

/// Tool names as the model may call them, each once.
#[derive(Default)]
struct Names(Vec<String>);

impl Names {
    fn take(&mut self, wanted: &str) -> String {
        let clean: String =
            wanted.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).collect();
        let clean: String = clean.trim_matches('_').chars().take(60).collect();
        let mut name = clean.clone();
        let mut n = 2;
        while self.0.contains(&name) {
            name = format!("{clean}_{n}");
            n += 1;
        }
        self.0.push(name.clone());
        name
    }
}

fn tool(spec: &Value, operation: &Operation, upstream: &str, names: &mut Names) -> Result<Tool, String> {
    let op = operation.op;
    if op["deprecated"] == true {
        return Err("deprecated".to_owned());
    }
    // The operation's parameters over its path's, by name and place.
    let mut parameters: Vec<&Value> = Vec::new();
    for list in [&operation.item["parameters"], &op["parameters"]] {
        for parameter in list.as_array().into_iter().flatten().map(|p| resolve(spec, p)) {
            parameters.retain(|p| !(p["name"] == parameter["name"] && p["in"] == parameter["in"]));
            parameters.push(parameter);
        }
    }
    let mut properties = Map::new();
    let mut required = Vec::new();
    let (mut query, mut headers) = (Vec::new(), Vec::new());
    for parameter in parameters {
        let name = parameter["name"].as_str().ok_or("a parameter without a name")?;
        let place = parameter["in"].as_str().unwrap_or_default();
        let is_required = parameter["required"] == true || place == "path";
        match place {
            "path" => {}
            "query" => query.push(name.to_owned()),
            "header" => headers.push(name.to_owned()),
            "cookie" if is_required => return Err(format!("it needs the cookie `{name}`")),
            _ => continue,
        }
        if properties.contains_key(name) {
            return Err(format!("two parameters are named `{name}`"));
        }
        let schema = parameter
            .get("schema")
            .or_else(|| parameter["content"].as_object().and_then(|c| c.values().next()).map(|m| &m["schema"]))
            .map_or_else(|| json!({"type": "string"}), |schema| convert(spec, schema, &mut Vec::new()));
        properties.insert(name.to_owned(), described(schema, parameter["description"].as_str()));
        if is_required {
            required.push(Value::String(name.to_owned()));
        }
    }
    let body = match op.get("requestBody").map(|b| resolve(spec, b)) {
        None => None,
        Some(request_body) => {
            let content = request_body["content"].as_object().cloned().unwrap_or_default();
            let json_type = content.keys().find(|t| *t == "application/json" || t.ends_with("+json"));
            let (media, encoding) = match json_type {
                Some(media) => (media.clone(), Encoding::Json),
                None if content.contains_key("application/x-www-form-urlencoded") => {
                    ("application/x-www-form-urlencoded".to_owned(), Encoding::Form)
                }
                None if content.is_empty() => (String::new(), Encoding::Json),
                None => {
                    let types: Vec<&String> = content.keys().collect();
                    return Err(format!("its body is {types:?}, which a tool cannot send"));
                }
            };
            match content.get(&media) {
                Some(media_type) => {
                    let argument = if properties.contains_key("body") { "request_body" } else { "body" };
                    let schema = media_type
                        .get("schema")
                        .map_or_else(|| json!({"type": "object"}), |schema| convert(spec, schema, &mut Vec::new()));
                    properties.insert(argument.to_owned(), described(schema, request_body["description"].as_str()));
                    if request_body["required"] == true {
                        required.push(Value::String(argument.to_owned()));
                    }
                    Some(Body { argument: argument.to_owned(), encoding })
                }
                None => None,
            }
        }
    };
    let paging: Vec<&str> = PAGING.iter().copied().filter(|p| query.iter().any(|q| q == p)).collect();
    let wanted = match op["operationId"].as_str() {
        Some(id) => id.to_owned(),
        None => format!("{}_{}", operation.method, operation.path),
    };
    let mut description = format!("{} {}", operation.method.to_uppercase(), operation.path);
    let summary = op["summary"].as_str().or(op["description"].as_str()).map(first_paragraph);
    if let Some(summary) = summary.filter(|s| !s.is_empty()) {
        description.push_str(": ");
        description.push_str(&summary);
    }
    if !paging.is_empty() {
        let with = paging.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", ");
        description.push_str(&format!(" (paged: {with})"));
    }
    let mut schema = json!({"type": "object", "properties": properties});
    if !required.is_empty() {
        schema["required"] = Value::Array(required);
    }
    Ok(Tool {
        name: names.take(&wanted),
        description,
        parameters: schema,
        command: None,
        http: Some(HttpCall {
            upstream: upstream.to_owned(),
            method: operation.method.to_uppercase(),
            path: operation.path.to_owned(),
            query,
            headers,
            body,
        }),
    })
}

/// The first paragraph of a Markdown description, on one line, cut to a readable length.
fn first_paragraph(text: &str) -> String {
    let paragraph = text.trim().split("\n\n").next().unwrap_or_default();
    let line = paragraph.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(MAX_DESCRIPTION) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line,
    }
}

/// `schema` with `description` added, unless it has one.
fn described(mut schema: Value, description: Option<&str>) -> Value {
    if let (Some(object), Some(description)) = (schema.as_object_mut(), description) {
        object.entry("description").or_insert_with(|| Value::String(first_paragraph(description)));
    }
    schema
}

/// An OpenAPI schema as the JSON schema a model reads: local `$ref`s spelled out (a
/// cycle, or nesting past [`MAX_REF_DEPTH`], becomes an object that names what it is),
/// 3.0's `nullable` as a `null` type, and what only documents the API (examples, XML,
/// `x-` extensions) left out. Every schema converted is one a request sends, so a
/// read-only property (the server sets it) is left out too: the model should not send it.
fn convert(spec: &Value, schema: &Value, refs: &mut Vec<String>) -> Value {
    match schema {
        Value::Object(fields) => {
            if let Some(reference) = fields.get("$ref").and_then(Value::as_str) {
                let name = reference.rsplit('/').next().unwrap_or(reference).to_owned();
                let target = reference.strip_prefix('#').and_then(|p| spec.pointer(p));
                let mut converted = match target {
                    Some(target) if !refs.contains(&reference.to_owned()) && refs.len() < MAX_REF_DEPTH => {
                        refs.push(reference.to_owned());
                        let converted = convert(spec, target, refs);
                        refs.pop();
                        converted
                    }
                    _ => json!({"type": "object", "description": format!("a {name} (see the API's documentation)")}),
                };
                // 3.1 allows keywords beside a `$ref`: they describe this use of it.
                if let (Some(object), Some(description)) = (converted.as_object_mut(), fields.get("description")) {
                    object.insert("description".to_owned(), Value::String(first_paragraph_of(description)));
                }
                return converted;
            }
            let read_only: Vec<&String> = fields
                .get("properties")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .filter(|(_, property)| resolve(spec, property)["readOnly"] == true)
                .map(|(name, _)| name)
                .collect();
            let mut out = Map::new();
            for (key, value) in fields {
                let value = match key.as_str() {
                    "example" | "examples" | "xml" | "externalDocs" | "discriminator" | "$schema" | "$id"
                    | "$comment" | "nullable" | "readOnly" | "writeOnly" | "deprecated" => continue,
                    _ if key.starts_with("x-") => continue,
                    "properties" | "patternProperties" | "$defs" | "definitions" => Value::Object(
                        value
                            .as_object()
                            .into_iter()
                            .flatten()
                            .filter(|(name, _)| !read_only.contains(name))
                            .map(|(name, schema)| (name.clone(), convert(spec, schema, refs)))
                            .collect(),
                    ),
                    "required" => Value::Array(
                        value
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter(|name| !read_only.iter().any(|r| name.as_str() == Some(r.as_str())))
                            .cloned()
                            .collect(),
                    ),
                    "items" | "additionalProperties" | "not" | "contains" | "propertyNames" if value.is_object() => {
                        convert(spec, value, refs)
                    }
                    "allOf" | "anyOf" | "oneOf" | "prefixItems" => Value::Array(
                        value.as_array().into_iter().flatten().map(|schema| convert(spec, schema, refs)).collect(),
                    ),
                    "description" | "title" => Value::String(first_paragraph_of(value)),
                    _ => value.clone(),
                };
                out.insert(key.clone(), value);
            }
            if fields.get("nullable") == Some(&Value::Bool(true)) {
                match out.get("type").cloned() {
                    Some(Value::String(kind)) => {
                        out.insert("type".to_owned(), json!([kind, "null"]));
                    }
                    Some(_) => {}
                    None => {
                        let any = Value::Object(std::mem::take(&mut out));
                        out.insert("anyOf".to_owned(), json!([any, {"type": "null"}]));
                    }
                }
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

fn first_paragraph_of(value: &Value) -> String {
    value.as_str().map(first_paragraph).unwrap_or_default()
}

fn skill_md(spec: &Value, version: &str, options: &Options, tools: &[Tool], left_out: &[String]) -> String {
    let info = &spec["info"];
    let title = info["title"].as_str().unwrap_or(options.name);
    let api_version = info["version"].as_str().unwrap_or("unversioned");
    let about = info["description"].as_str().map(first_paragraph).unwrap_or_default();
    let description = format!(
        "{title} API: {} tools calling it through the `{}` upstream{}",
        tools.len(),
        options.upstream,
        if options.only_tags.is_empty() { String::new() } else { format!(" ({})", options.only_tags.join(", ")) }
    );
    let mut text = format!(
        "---\nname: {name}\ndescription: {description}\nversion: {api_version}\n---\n# {title} {api_version}\n\n",
        name = options.name
    );
    if !about.is_empty() {
        text.push_str(&format!("{about}\n\n"));
    }
    text.push_str(&format!(
        "Generated by `nova skill from-openapi` from an OpenAPI {version} description. Every tool below calls the \
         API through the `{upstream}` upstream, whose credential the office's proxy adds: you never hold the key \
         and never need to ask for it. A tool answers with the HTTP status and the response body; a 4xx says what \
         was wrong with the arguments.\n",
        upstream = options.upstream
    ));
    if let Some(server) = spec["servers"][0]["url"].as_str() {
        text.push_str(&format!("\nThe API's base URL (the upstream's `url`): {server}\n"));
    }
    text.push_str("\n## Tools\n\n");
    for tool in tools {
        text.push_str(&format!("- `{}`: {}\n", tool.name, tool.description));
    }
    if tools.iter().any(|tool| tool.description.contains("(paged: ")) {
        text.push_str(
            "\n## Paging\n\nA tool marked *paged* returns one page of a list. Ask for the next page with the \
             parameter it names (the next `page`, an `offset` past what you have, or the last id as \
             `starting_after`/`cursor`) until a page comes back short or empty. Fetch only as much as the task \
             needs.\n",
        );
    }
    if !left_out.is_empty() {
        text.push_str("\n## Left out\n\n");
        for reason in left_out {
            text.push_str(&format!("- {reason}\n"));
        }
    }
    text
}

#[cfg(test)]
mod tests;
