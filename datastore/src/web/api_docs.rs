//! The API reference page, rendered from the generated OpenAPI document.

use serde::Serialize;
use serde_json::Value;

use crate::error::AppResult;

#[derive(Debug, Serialize)]
struct Tag {
    name: String,
    description: String,
    operations: Vec<Operation>,
}

#[derive(Debug, Serialize)]
struct Operation {
    id: String,
    method: String,
    path: String,
    summary: String,
    description: String,
    auth: bool,
    params: Vec<Field>,
    body: Option<Body>,
    responses: Vec<Response>,
}

#[derive(Debug, Serialize)]
struct Field {
    name: String,
    location: String,
    schema: String,
    anchor: Option<String>,
    required: bool,
    description: String,
}

#[derive(Debug, Serialize)]
struct Body {
    content_type: String,
    schema: String,
    anchor: Option<String>,
    description: String,
}

#[derive(Debug, Serialize)]
struct Response {
    status: String,
    description: String,
    schema: String,
    anchor: Option<String>,
}

#[derive(Debug, Serialize)]
struct Schema {
    name: String,
    description: String,
    fields: Vec<Field>,
    values: Vec<String>,
}

fn text(value: &Value, key: &str) -> String {
    value.get(key).and_then(Value::as_str).unwrap_or_default().to_owned()
}

/// A schema as a short type expression, and the schema it links to, if any.
fn describe(schema: &Value) -> (String, Option<String>) {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference.rsplit('/').next().unwrap_or(reference).to_owned();
        return (name.clone(), Some(name));
    }
    for combinator in ["oneOf", "anyOf", "allOf"] {
        if let Some(options) = schema.get(combinator).and_then(Value::as_array) {
            let described: Vec<(String, Option<String>)> =
                options.iter().map(describe).filter(|(t, _)| t != "null").collect();
            let anchor = described.iter().find_map(|(_, a)| a.clone());
            let names: Vec<String> = described.into_iter().map(|(t, _)| t).collect();
            let nullable = options.iter().any(|o| o.get("type").and_then(Value::as_str) == Some("null"));
            return (format!("{}{}", names.join(" | "), if nullable { "?" } else { "" }), anchor);
        }
    }
    let kind = match schema.get("type") {
        Some(Value::Array(kinds)) => {
            let kinds: Vec<&str> = kinds.iter().filter_map(Value::as_str).collect();
            let main: Vec<&str> = kinds.iter().copied().filter(|k| *k != "null").collect();
            format!("{}{}", main.join(" | "), if kinds.contains(&"null") { "?" } else { "" })
        }
        Some(Value::String(kind)) => kind.clone(),
        _ => "any".to_owned(),
    };
    if kind.starts_with("array") {
        let (inner, anchor) = schema.get("items").map(describe).unwrap_or(("any".to_owned(), None));
        return (format!("{inner}[]"), anchor);
    }
    match schema.get("format").and_then(Value::as_str) {
        Some(format) => (format!("{kind} ({format})"), None),
        None => (kind, None),
    }
}

fn operation(path: &str, method: &str, op: &Value) -> Operation {
    let params = op
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|p| {
            let (schema, anchor) = p.get("schema").map(describe).unwrap_or_default();
            Field {
                name: text(p, "name"),
                location: text(p, "in"),
                schema,
                anchor,
                required: p.get("required").and_then(Value::as_bool).unwrap_or(false),
                description: text(p, "description"),
            }
        })
        .collect();
    let body = op.get("requestBody").and_then(|b| {
        let (content_type, media) = b.get("content")?.as_object()?.iter().next()?;
        let (schema, anchor) = media.get("schema").map(describe).unwrap_or_default();
        Some(Body { content_type: content_type.clone(), schema, anchor, description: text(b, "description") })
    });
    let responses = op
        .get("responses")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(status, r)| {
            let schema = r
                .get("content")
                .and_then(Value::as_object)
                .and_then(|c| c.values().next())
                .and_then(|m| m.get("schema"))
                .map(describe)
                .unwrap_or_default();
            Response { status: status.clone(), description: text(r, "description"), schema: schema.0, anchor: schema.1 }
        })
        .collect();
    Operation {
        id: text(op, "operationId"),
        method: method.to_owned(),
        path: path.to_owned(),
        summary: text(op, "summary"),
        description: text(op, "description"),
        auth: op.get("security").is_some(),
        params,
        body,
        responses,
    }
}

fn schemas(spec: &Value) -> Vec<Schema> {
    let Some(all) = spec.pointer("/components/schemas").and_then(Value::as_object) else { return Vec::new() };
    all.iter()
        .map(|(name, schema)| {
            let required: Vec<&str> = schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let fields = schema
                .get("properties")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .map(|(field, s)| {
                    let (kind, anchor) = describe(s);
                    Field {
                        name: field.clone(),
                        location: String::new(),
                        schema: kind,
                        anchor,
                        required: required.contains(&field.as_str()),
                        description: text(s, "description"),
                    }
                })
                .collect();
            let values = schema
                .get("enum")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect();
            Schema { name: name.clone(), description: text(schema, "description"), fields, values }
        })
        .collect()
}

/// The HTML reference of an OpenAPI document.
pub fn render_api_docs(spec: &Value, base_url: &str) -> AppResult<String> {
    let mut tags: Vec<Tag> = spec
        .get("tags")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|t| Tag { name: text(t, "name"), description: text(t, "description"), operations: Vec::new() })
        .collect();
    for (path, methods) in spec.get("paths").and_then(Value::as_object).into_iter().flatten() {
        for (method, op) in methods.as_object().into_iter().flatten() {
            let tag = op.pointer("/tags/0").and_then(Value::as_str).unwrap_or("other").to_owned();
            let index = match tags.iter().position(|t| t.name == tag) {
                Some(index) => index,
                None => {
                    tags.push(Tag { name: tag, description: String::new(), operations: Vec::new() });
                    tags.len() - 1
                }
            };
            tags[index].operations.push(operation(path, method, op));
        }
    }
    let context = serde_json::json!({
        "title": spec.pointer("/info/title").and_then(Value::as_str).unwrap_or("API"),
        "version": spec.pointer("/info/version").and_then(Value::as_str).unwrap_or(""),
        "description": spec.pointer("/info/description").and_then(Value::as_str).unwrap_or(""),
        "openapi": spec.get("openapi").and_then(Value::as_str).unwrap_or(""),
        "base_url": base_url,
        "tags": tags,
        "schemas": schemas(spec),
    });
    super::render("api_docs.html", &context)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_references_arrays_and_nullables() {
        assert_eq!(describe(&serde_json::json!({"$ref": "#/components/schemas/FileEntry"})).0, "FileEntry");
        let array = describe(&serde_json::json!({"type": "array", "items": {"$ref": "#/components/schemas/X"}}));
        assert_eq!(array, ("X[]".to_owned(), Some("X".to_owned())));
        assert_eq!(describe(&serde_json::json!({"type": ["string", "null"]})).0, "string?");
        assert_eq!(describe(&serde_json::json!({"type": "string", "format": "date-time"})).0, "string (date-time)");
    }
}
