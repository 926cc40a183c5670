//! The OpenAPI document at `/api/v2/openapi.json`: served without credentials, valid OpenAPI 3,
//! and listing exactly the JSON API routes the router has (a route added without documentation
//! fails here, and so does documentation of a route that does not exist).

use crate::app::TestApp;
use circlet_store::BackendKind;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// The methods an OpenAPI path item may hold, as the document spells them.
const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// `(METHOD, path)` for every route of the router that the document must cover: everything
/// under `/api/` but the runner protocol, and the health probes. The UI, badges, artifact
/// downloads and the runner protocol are not part of the document.
///
/// axum has no public way to list a router's routes, so this reads its `Debug` output: the route
/// ids with their paths, and each id's `Allow` header. If axum changes that output, the asserts
/// on what was found fail loudly rather than letting the comparison pass on nothing.
fn routed(app: &TestApp) -> BTreeSet<(String, String)> {
    let router = circlet_server::routes::router(app.state.clone());
    let debug = format!("{router:?}");
    // The main path router only; the fallback router after it has routes of its own.
    let main = debug
        .split("fallback_router:")
        .next()
        .expect("a Router's Debug names its path_router first");
    let (routes, nodes) = main
        .split_once("node: Node")
        .expect("a PathRouter's Debug has its routes, then its node");

    let mut allow: BTreeMap<u64, String> = BTreeMap::new();
    for chunk in routes.split("RouteId(").skip(1) {
        let (id, rest) = chunk.split_once(')').expect("RouteId(N)");
        let Some((_, header)) = rest.split_once("allow_header: Bytes(b\"") else {
            continue;
        };
        let methods = header.split('"').next().unwrap_or_default();
        allow.insert(id.trim().parse().expect("a route id"), methods.to_owned());
    }
    let mut paths: BTreeMap<u64, String> = BTreeMap::new();
    for chunk in nodes.split("RouteId(").skip(1) {
        let (id, rest) = chunk.split_once(')').expect("RouteId(N)");
        let path = rest.split('"').nth(1).expect("a quoted path");
        paths.insert(id.trim().parse().expect("a route id"), path.to_owned());
    }
    assert!(
        paths.len() > 100 && allow.len() > 100,
        "read too few routes from the router's Debug output ({} paths, {} endpoints): has \
         axum's Debug format changed?",
        paths.len(),
        allow.len()
    );

    let mut out = BTreeSet::new();
    for (id, path) in &paths {
        let covered = (path.starts_with("/api/") || path == "/healthz" || path == "/readyz")
            && !path.starts_with(circlet_core::runner_protocol::BASE_PATH)
            && !path.contains("__private__");
        if !covered {
            continue;
        }
        let methods = allow
            .get(id)
            .unwrap_or_else(|| panic!("no Allow header read for route {path}"));
        // OpenAPI has no catch-all segments: `{*branch}` is the parameter `{branch}`.
        let path = path.replace("{*", "{");
        for method in methods.split(',').filter(|m| !m.is_empty() && *m != "HEAD") {
            out.insert((method.to_owned(), path.clone()));
        }
    }
    out
}

/// `(METHOD, path)` for every operation in the document.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths is an object") {
        for method in METHODS {
            if item.get(method).is_some() {
                out.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    out
}

/// Every `$ref` in `v`.
fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r),
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

async fn fetch(app: &TestApp) -> Value {
    let response = reqwest::get(format!("{}/api/v2/openapi.json", app.url))
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "served without credentials");
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    response.json().await.unwrap()
}

#[tokio::test]
async fn the_document_lists_every_json_api_route_and_no_other() {
    let app = TestApp::spawn(BackendKind::Sqlite).await;
    let doc = fetch(&app).await;
    let routed = routed(&app);
    let documented = documented(&doc);
    let missing: Vec<_> = routed.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&routed).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "routes without documentation (add #[utoipa::path] to the handler and list it in \
         api::openapi): {missing:#?}\ndocumented routes the router does not have: {extra:#?}"
    );
}

#[tokio::test]
async fn the_document_is_valid_openapi_3() {
    let app = TestApp::spawn(BackendKind::Sqlite).await;
    let doc = fetch(&app).await;

    let version = doc["openapi"].as_str().expect("openapi is a string");
    assert!(version.starts_with("3."), "{version}");
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    let description = doc["info"]["description"].as_str().unwrap();
    assert!(
        description.contains("runner protocol"),
        "says what it leaves out"
    );

    // The four ways CircleCI clients send a token.
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["circle_token_header"]["type"], "apiKey");
    assert_eq!(schemes["circle_token_header"]["in"], "header");
    assert_eq!(schemes["circle_token_header"]["name"], "Circle-Token");
    assert_eq!(schemes["circle_token_query"]["in"], "query");
    assert_eq!(schemes["circle_token_query"]["name"], "circle-token");
    assert_eq!(schemes["basic"]["scheme"], "basic");
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(doc["security"].as_array().unwrap().len(), 4);

    let schemas = doc["components"]["schemas"].as_object().unwrap();
    assert_eq!(
        schemas["MessageBody"]["required"],
        serde_json::json!(["message"]),
        "the error body is {{\"message\": string}}"
    );
    let mut all_refs = Vec::new();
    refs(&doc, &mut all_refs);
    for r in all_refs {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected $ref {r}"));
        assert!(schemas.contains_key(name), "dangling $ref {r}");
    }

    let mut operation_ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        assert!(path.starts_with('/'), "{path}");
        let in_template: BTreeSet<&str> = path
            .split('{')
            .skip(1)
            .filter_map(|s| s.split_once('}').map(|(name, _)| name))
            .collect();
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let id = op["operationId"].as_str().expect("an operationId");
            assert!(
                operation_ids.insert(id.to_owned()),
                "operationId {id} twice"
            );
            let responses = op["responses"].as_object().expect("responses");
            assert!(!responses.is_empty(), "{method} {path} has no responses");
            for (status, response) in responses {
                assert!(
                    response["description"].is_string(),
                    "{method} {path} {status}"
                );
            }
            // Every JSON API error is documented as {"message": …}.
            if path.starts_with("/api/") && path != "/api/v2/openapi.json" {
                let error = responses
                    .get("4XX")
                    .or_else(|| responses.get("405"))
                    .unwrap_or_else(|| panic!("{method} {path} documents no 4xx"));
                assert_eq!(
                    error["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/MessageBody",
                    "{method} {path}"
                );
            }
            let params: BTreeSet<&str> = op["parameters"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .filter(|p| p["in"] == "path")
                .inspect(|p| assert_eq!(p["required"], true, "{method} {path}"))
                .map(|p| p["name"].as_str().unwrap())
                .collect();
            assert_eq!(params, in_template, "{method} {path}: path parameters");
        }
    }
}
