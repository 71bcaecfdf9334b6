//! Signatures for organisers: the paged listing, the CSV export and counts.

use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{assert_problem, spawn_app, Backend};
use crate::signers::{parse_csv, petition, sign_all, Signer};

backend_tests!(
    the_csv_quotes_commas_quotes_newlines_and_defuses_formulas,
    non_latin_names_round_trip_through_the_csv,
    counts_by_country_and_day_equal_the_exported_rows,
    the_listing_pages_with_a_cursor_and_filters_by_status,
    an_export_longer_than_one_chunk_keeps_every_row_in_order,
    bad_filters_are_422_and_an_unknown_petition_404,
    signatures_from_the_signing_form_export_and_count_like_the_public_page_even_after_erasure,
);

const HEADER: &str =
    "signed_at,confirmed_at,first_name,last_name,email,country,postcode,comment,email_opt_in";

async fn the_csv_quotes_commas_quotes_newlines_and_defuses_formulas(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.token("organiser").await;
    let c = app.token("campaigner").await;
    let p = petition(&app, &c, "quoting").await;
    let pid = p["id"].as_str().unwrap();
    sign_all(
        &app,
        pid,
        vec![
            Signer::new("a@example.org", "Smith, Jr", "O\"Neil", "GB")
                .comment("line one\nline two"),
            Signer::new("=b@example.org", "Bob", "Bee", "KG")
                .comment("=HYPERLINK(\"http://evil\")"),
            Signer::new("c@example.org", "Cee", "Cee", "FR").comment("+1 and more"),
            Signer::new("d@example.org", "Dee", "Dee", "FR").comment("-2"),
            Signer::new("e@example.org", "Eve", "Eve", "FR").comment("@SUM(A1)"),
            Signer::new("f@example.org", "Eff", "Eff", "FR").comment("\tTabbed"),
            Signer::new("g@example.org", "Gee", "Gee", "FR").comment("\rReturn"),
            Signer::new("h@example.org", "Aitch", "Aitch", "FR").comment("a = b, and 1+1"),
        ],
    )
    .await;
    let r = app
        .get(&format!("/api/v1/petitions/{pid}/signatures.csv"), &t)
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers().get("content-type").unwrap(),
        "text/csv; charset=utf-8"
    );
    assert!(r
        .headers()
        .get("content-disposition")
        .unwrap()
        .to_str()
        .unwrap()
        .contains("quoting-signatures.csv"));
    let bytes = r.bytes().await.unwrap();
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "starts with a BOM");
    let text = std::str::from_utf8(&bytes[3..]).unwrap();
    assert!(text.starts_with(&format!("{HEADER}\r\n")));
    assert!(text.ends_with("\r\n"));
    assert!(text.contains(
        "2026-11-20T10:00:00Z,2026-11-20T10:00:00Z,\"Smith, Jr\",\"O\"\"Neil\",a@example.org,GB,,\"line one\nline two\",false\r\n"
    ), "{text}");
    assert!(
        text.contains(",'=b@example.org,KG,,\"'=HYPERLINK(\"\"http://evil\"\")\",false"),
        "{text}"
    );
    let rows = parse_csv(&bytes);
    assert_eq!(rows.len(), 9);
    let comments: Vec<&str> = rows[1..].iter().map(|r| r[7].as_str()).collect();
    assert_eq!(
        comments,
        [
            "line one\nline two",
            "'=HYPERLINK(\"http://evil\")",
            "'+1 and more",
            "'-2",
            "'@SUM(A1)",
            "'\tTabbed",
            "'\rReturn",
            "a = b, and 1+1",
        ]
    );
    assert_eq!(rows[1][2], "Smith, Jr");
    assert_eq!(rows[1][3], "O\"Neil");

    let r = app
        .get(
            &format!("/api/v1/petitions/{pid}/signatures.csv?bom=false"),
            &t,
        )
        .await;
    let plain = r.bytes().await.unwrap();
    assert!(plain.starts_with(b"signed_at,"));
    assert_eq!(&plain[..], &bytes[3..]);
}

async fn non_latin_names_round_trip_through_the_csv(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.token("organiser").await;
    let c = app.token("campaigner").await;
    let p = petition(&app, &c, "names").await;
    let pid = p["id"].as_str().unwrap();
    let names = [
        ("Айгуль", "Бекова", "KG"),
        ("محمد", "الأحمد", "EG"),
        ("李", "小龙", "CN"),
        ("Łukasz", "Żółć", "PL"),
        ("Αλέξανδρος", "Παπαδόπουλος", "GR"),
        ("दीपिका", "शर्मा", "IN"),
    ];
    let signers = names
        .iter()
        .enumerate()
        .map(|(i, (f, l, c))| {
            Signer::new(&format!("p{i}@example.org"), f, l, c).comment("Свободу! 自由!")
        })
        .collect();
    sign_all(&app, pid, signers).await;
    let bytes = app
        .get(&format!("/api/v1/petitions/{pid}/signatures.csv"), &t)
        .await
        .bytes()
        .await
        .unwrap();
    let rows = parse_csv(&bytes);
    let got: Vec<(String, String, String)> = rows[1..]
        .iter()
        .map(|r| (r[2].clone(), r[3].clone(), r[5].clone()))
        .collect();
    let want: Vec<(String, String, String)> = names
        .iter()
        .map(|(f, l, c)| (f.to_string(), l.to_string(), c.to_string()))
        .collect();
    assert_eq!(got, want);
    assert!(rows[1..].iter().all(|r| r[7] == "Свободу! 自由!"));
}

async fn counts_by_country_and_day_equal_the_exported_rows(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.token("organiser").await;
    let c = app.token("campaigner").await;
    let p = petition(&app, &c, "counted").await;
    let pid = p["id"].as_str().unwrap();
    let s = |i: u32, country: &str, day: &str| {
        Signer::new(&format!("s{i}@example.org"), "Sig", "Ner", country)
            .at(&format!("{day} 23:59:59"))
    };
    sign_all(
        &app,
        pid,
        vec![
            s(1, "KG", "2026-11-01"),
            s(2, "KG", "2026-11-01"),
            s(3, "GB", "2026-11-02"),
            s(4, "KG", "2026-11-03").pending(),
            s(5, "DE", "2026-11-03"),
            s(6, "DE", "2026-11-03").pending(),
            s(7, "FR", "2026-11-04").pending(),
        ],
    )
    .await;
    let get = |path: String| {
        let app = &app;
        let t = t.clone();
        async move { app.get(&path, &t).await.json::<Value>().await.unwrap() }
    };
    let by_country = get(format!("/api/v1/petitions/{pid}/counts?by=country")).await;
    assert_eq!(
        by_country,
        json!({"confirmed": 4, "pending": 3,
               "by": {"KG": 2, "GB": 1, "DE": 1},
               "pending_by": {"KG": 1, "DE": 1, "FR": 1}})
    );
    let by_day = get(format!("/api/v1/petitions/{pid}/counts?by=day")).await;
    assert_eq!(
        by_day,
        json!({"confirmed": 4, "pending": 3,
               "by": {"2026-11-01": 2, "2026-11-02": 1, "2026-11-03": 1},
               "pending_by": {"2026-11-03": 2, "2026-11-04": 1}})
    );
    let csv_rows = |status: &'static str| {
        let app = &app;
        let t = t.clone();
        async move {
            let bytes = app
                .get(
                    &format!("/api/v1/petitions/{pid}/signatures.csv?status={status}"),
                    &t,
                )
                .await
                .bytes()
                .await
                .unwrap();
            parse_csv(&bytes).len() as i64 - 1
        }
    };
    assert_eq!(csv_rows("confirmed").await, 4);
    assert_eq!(csv_rows("pending").await, 3);
    assert_eq!(csv_rows("all").await, 7);
    let sum: i64 = by_country["by"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_i64().unwrap())
        .sum();
    assert_eq!(sum, 4);
}

async fn the_listing_pages_with_a_cursor_and_filters_by_status(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.token("organiser").await;
    let c = app.token("campaigner").await;
    let p = petition(&app, &c, "listed").await;
    let pid = p["id"].as_str().unwrap();
    let signers = (0..5)
        .map(|i| {
            let s = Signer::new(&format!("l{i}@example.org"), "List", "Ed", "KG");
            if i == 2 {
                s.pending()
            } else {
                s
            }
        })
        .collect();
    let ids = sign_all(&app, pid, signers).await;
    let mut seen = Vec::new();
    let mut path = format!("/api/v1/petitions/{pid}/signatures?limit=3");
    loop {
        let page: Value = app.get(&path, &t).await.json().await.unwrap();
        for s in page["items"].as_array().unwrap() {
            assert_eq!(s["status"], "confirmed");
            seen.push(s["id"].as_str().unwrap().to_string());
        }
        match page["next_cursor"].as_str() {
            Some(cur) => path = format!("/api/v1/petitions/{pid}/signatures?limit=3&cursor={cur}"),
            None => break,
        }
    }
    let confirmed: Vec<String> = ids
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 2)
        .map(|(_, (_, s))| s.clone())
        .collect();
    assert_eq!(seen, confirmed);
    let pending: Value = app
        .get(
            &format!("/api/v1/petitions/{pid}/signatures?status=pending"),
            &t,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(pending["items"].as_array().unwrap().len(), 1);
    assert_eq!(pending["items"][0]["id"], ids[2].1.as_str());
    assert_eq!(pending["items"][0]["email"], "l2@example.org");
    assert!(pending["items"][0]["confirmed_at"].is_null());
}

async fn an_export_longer_than_one_chunk_keeps_every_row_in_order(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.token("organiser").await;
    let c = app.token("campaigner").await;
    let p = petition(&app, &c, "long").await;
    let pid = p["id"].as_str().unwrap();
    let n = clarion::export::CHUNK_ROWS as usize + 7;
    let signers = (0..n)
        .map(|i| {
            let s = Signer::new(&format!("n{i}@example.org"), "Long", "List", "KG");
            if i % 3 == 0 {
                s.pending()
            } else {
                s
            }
        })
        .collect();
    sign_all(&app, pid, signers).await;
    let bytes = app
        .get(
            &format!("/api/v1/petitions/{pid}/signatures.csv?status=all"),
            &t,
        )
        .await
        .bytes()
        .await
        .unwrap();
    let rows = parse_csv(&bytes);
    assert_eq!(rows.len(), n + 1);
    let emails: Vec<String> = rows[1..].iter().map(|r| r[4].clone()).collect();
    let want: Vec<String> = (0..n).map(|i| format!("n{i}@example.org")).collect();
    assert_eq!(
        emails, want,
        "confirmed and pending merged in signing order"
    );
    let confirmed = app
        .get(&format!("/api/v1/petitions/{pid}/signatures.csv"), &t)
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(parse_csv(&confirmed).len(), n - n.div_ceil(3) + 1);
}

async fn bad_filters_are_422_and_an_unknown_petition_404(b: Backend) {
    let app = spawn_app(b).await;
    let t = app.token("organiser").await;
    let c = app.token("campaigner").await;
    let p = petition(&app, &c, "filters").await;
    let pid = p["id"].as_str().unwrap();
    for path in [
        format!("/api/v1/petitions/{pid}/signatures?status=deleted"),
        format!("/api/v1/petitions/{pid}/signatures.csv?status=some"),
        format!("/api/v1/petitions/{pid}/counts?by=month"),
        format!("/api/v1/petitions/{pid}/signatures?limit=0"),
    ] {
        assert_problem(app.get(&path, &t).await, 422).await;
    }
    let missing = uuid::Uuid::now_v7();
    for path in [
        format!("/api/v1/petitions/{missing}/signatures"),
        format!("/api/v1/petitions/{missing}/signatures.csv"),
        format!("/api/v1/petitions/{missing}/counts?by=day"),
    ] {
        assert_problem(app.get(&path, &t).await, 404).await;
    }
}

async fn signatures_from_the_signing_form_export_and_count_like_the_public_page_even_after_erasure(
    b: Backend,
) {
    use crate::public_support::form_with;
    let app = spawn_app(b).await;
    let organiser = app.token("organiser").await;
    let admin = app.token("admin").await;
    let p = app.open_petition("end-to-end", json!({})).await;
    let pid = p["id"].as_str().unwrap();
    // Ann and Bob sign and confirm; Cat signs after, so hers is the one
    // mail left unconfirmed whatever order the worker sends them in.
    let signers = [
        ("ann@example.org", "KG", "=cmd|' /C calc'!A0"),
        ("bob@example.org", "GB", ""),
        ("cat@example.org", "KG", "Free them"),
    ];
    for (i, (email, country, comment)) in signers.into_iter().enumerate() {
        let r = app
            .sign(
                "end-to-end",
                &form_with(email, &[("country", country), ("comment", comment)]),
            )
            .await;
        assert_eq!(r.status(), 303);
        if i == 1 {
            for t in app.mailed_tokens(2).await {
                let r = app.post_empty(&format!("/confirm/{t}")).await;
                assert_eq!(r.status(), 200);
            }
        }
    }
    app.mailed_tokens(3).await;
    let counts: Value = app
        .get(
            &format!("/api/v1/petitions/{pid}/counts?by=country"),
            &organiser,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (counts["confirmed"].as_i64(), counts["pending"].as_i64()),
        (Some(2), Some(1))
    );
    let public = app.counts_json("end-to-end").await;
    assert_eq!(counts["by"], public["by_country"]);
    assert_eq!(counts["confirmed"], public["signatures"]);

    let bytes = app
        .get(
            &format!("/api/v1/petitions/{pid}/signatures.csv"),
            &organiser,
        )
        .await
        .bytes()
        .await
        .unwrap();
    let rows = parse_csv(&bytes);
    assert_eq!(rows.len() as i64 - 1, counts["confirmed"].as_i64().unwrap());
    let ann = rows
        .iter()
        .find(|r| r[4] == "ann@example.org")
        .expect("ann exported");
    assert_eq!(ann[7], "'=cmd|' /C calc'!A0");

    let found: Value = app
        .get("/api/v1/supporters?email=ann@example.org", &organiser)
        .await
        .json()
        .await
        .unwrap();
    let id = found["items"][0]["id"].as_str().unwrap();
    let r = app
        .request(
            reqwest::Method::DELETE,
            &format!("/api/v1/supporters/{id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(r.status(), 204);
    assert_eq!(app.counts_json("end-to-end").await, public);
    let after: Value = app
        .get(
            &format!("/api/v1/petitions/{pid}/counts?by=country"),
            &organiser,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(after, counts);
    let bytes = app
        .get(
            &format!("/api/v1/petitions/{pid}/signatures.csv"),
            &organiser,
        )
        .await
        .bytes()
        .await
        .unwrap();
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    assert!(
        !text.contains("ann@example.org") && !text.contains("calc"),
        "{text}"
    );
    assert_eq!(parse_csv(&bytes).len(), rows.len());
}
