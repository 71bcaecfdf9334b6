//! Who may use the list, supporter and signature routes: organisers read and
//! export, campaigners and admins also write, only admins erase (§4).

use reqwest::Method;
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{spawn_app, Backend, TestApp};
use crate::signers::{create_list, petition, sign_all, Signer};

backend_tests!(each_role_is_allowed_and_refused_exactly_as_the_contract_says);

async fn call(app: &TestApp, method: &Method, path: &str, token: Option<&str>, body: &Body) -> u16 {
    let mut req = app
        .client
        .request(method.clone(), format!("{}{}", app.address, path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req = match body {
        Body::None => req,
        Body::Json(v) => req.json(v),
        Body::Csv(s) => req.header("content-type", "text/csv").body(s.to_string()),
    };
    req.send().await.unwrap().status().as_u16()
}

enum Body {
    None,
    Json(Value),
    Csv(&'static str),
}

async fn each_role_is_allowed_and_refused_exactly_as_the_contract_says(b: Backend) {
    let app = spawn_app(b).await;
    let organiser = app.token("organiser").await;
    let campaigner = app.token("campaigner").await;
    let admin = app.token("admin").await;
    let p = petition(&app, &campaigner, "roles").await;
    let pid = p["id"].as_str().unwrap().to_string();
    let ids = sign_all(
        &app,
        &pid,
        vec![
            Signer::new("one@example.org", "One", "A", "KG"),
            Signer::new("two@example.org", "Two", "B", "KG"),
        ],
    )
    .await;
    let (s1, s2) = (ids[0].0.clone(), ids[1].0.clone());
    let list = create_list(&app, &campaigner, "Roles").await;

    let get = Method::GET;
    let post = Method::POST;
    let delete = Method::DELETE;
    // (method, path, body, [organiser, campaigner, admin]); reads first,
    // then writes, the erasures last (each needs someone left to erase).
    let mut n = 0;
    let mut name = || {
        n += 1;
        json!({"name": format!("list {n}")})
    };
    let cases: Vec<(Method, String, Body, [u16; 3])> = vec![
        (
            get.clone(),
            "/api/v1/lists".into(),
            Body::None,
            [200, 200, 200],
        ),
        (
            get.clone(),
            format!("/api/v1/lists/{list}"),
            Body::None,
            [200, 200, 200],
        ),
        (
            get.clone(),
            format!("/api/v1/petitions/{pid}/signatures"),
            Body::None,
            [200, 200, 200],
        ),
        (
            get.clone(),
            format!("/api/v1/petitions/{pid}/signatures.csv"),
            Body::None,
            [200, 200, 200],
        ),
        (
            get.clone(),
            format!("/api/v1/petitions/{pid}/counts?by=country"),
            Body::None,
            [200, 200, 200],
        ),
        (
            get.clone(),
            "/api/v1/supporters?email=one@example.org".into(),
            Body::None,
            [200, 200, 200],
        ),
        (
            get.clone(),
            format!("/api/v1/supporters/{s1}"),
            Body::None,
            [200, 200, 200],
        ),
        (
            get.clone(),
            format!("/api/v1/supporters/{s1}/export"),
            Body::None,
            [200, 200, 200],
        ),
        (
            post.clone(),
            "/api/v1/lists".into(),
            Body::Json(Value::Null),
            [403, 201, 201],
        ),
        (
            post.clone(),
            format!("/api/v1/lists/{list}/members"),
            Body::Json(json!([{"email": "m@example.org"}])),
            [403, 200, 200],
        ),
        (
            post.clone(),
            format!("/api/v1/lists/{list}/import"),
            Body::Csv("email\ni@example.org\n"),
            [403, 200, 200],
        ),
        (
            delete.clone(),
            format!("/api/v1/supporters/{s2}"),
            Body::None,
            [403, 403, 204],
        ),
    ];
    for (method, path, body, expected) in cases {
        assert_eq!(
            call(&app, &method, &path, None, &body).await,
            401,
            "{method} {path} without a token"
        );
        for (token, want) in [&organiser, &campaigner, &admin].into_iter().zip(expected) {
            let body = match &body {
                Body::Json(Value::Null) => Body::Json(name()),
                Body::Json(v) => Body::Json(v.clone()),
                Body::Csv(s) => Body::Csv(s),
                Body::None => Body::None,
            };
            let got = call(&app, &method, &path, Some(token), &body).await;
            assert_eq!(got, want, "{method} {path}");
        }
    }
}
