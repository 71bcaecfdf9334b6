//! `clarion import supporters` and `clarion export …`: the same results as the
//! API routes they mirror.

use std::process::Command;

use serde_json::Value;

use crate::backend_tests;
use crate::helpers::{clarion_bin, spawn_app, Backend, TestApp};
use crate::signers::{parse_csv, petition, sign_all, Signer};

backend_tests!(
    the_cli_import_creates_the_list_and_prints_counts_and_rejected_lines,
    the_cli_exports_equal_the_api,
    an_unknown_petition_or_file_is_a_one_line_error,
);

async fn clarion(app: &TestApp, args: &[&str], stdin: Option<&str>) -> std::process::Output {
    let url = app.database_url.clone();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let stdin = stdin.map(str::to_string);
    tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new(clarion_bin());
        cmd.args(&args)
            .env("CLARION_DATABASE_URL", &url)
            .env("CLARION_LOG", "warn")
            .env_remove("CLARION_CONFIG");
        match stdin {
            None => cmd.output().expect("clarion runs"),
            Some(input) => {
                use std::io::Write;
                let mut child = cmd
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .expect("clarion runs");
                child
                    .stdin
                    .take()
                    .unwrap()
                    .write_all(input.as_bytes())
                    .unwrap();
                child.wait_with_output().unwrap()
            }
        }
    })
    .await
    .unwrap()
}

async fn the_cli_import_creates_the_list_and_prints_counts_and_rejected_lines(b: Backend) {
    let app = spawn_app(b).await;
    let file = app.dir.path().join("people.csv");
    std::fs::write(
        &file,
        "email,first_name,country\nann@example.org,Ann,KG\nbad-address,Bob,GB\nann@example.org,Ann,KG\ncarl@example.org,Carl,QQ\n",
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let out = clarion(
        &app,
        &["import", "supporters", path, "--list", "From CLI"],
        None,
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[0],
        "imported 1, updated 0, unchanged 0, rejected 3, skipped 0"
    );
    assert!(lines[1].starts_with("rejected line 3: email:"), "{stdout}");
    assert!(
        lines[2].starts_with("rejected line 4: duplicate"),
        "{stdout}"
    );
    assert!(
        lines[3].starts_with("rejected line 5: country:"),
        "{stdout}"
    );
    // Not a terminal: no progress bar drawn into the output.
    assert!(!String::from_utf8_lossy(&out.stderr).contains('\u{1b}'));

    // Again, from standard input: nothing changes.
    let out = clarion(
        &app,
        &["import", "supporters", "-", "--list", "From CLI"],
        Some(&std::fs::read_to_string(&file).unwrap()),
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.starts_with("imported 0, updated 0, unchanged 1, rejected 3"),
        "{stdout}"
    );

    let token = app.token("organiser").await;
    let lists: Value = app.get("/api/v1/lists", &token).await.json().await.unwrap();
    assert_eq!(lists["items"][0]["name"], "From CLI");
    assert_eq!(lists["items"][0]["member_count"], 1);
}

async fn the_cli_exports_equal_the_api(b: Backend) {
    let app = spawn_app(b).await;
    let c = app.token("campaigner").await;
    let p = petition(&app, &c, "cli-export").await;
    let pid = p["id"].as_str().unwrap();
    sign_all(
        &app,
        pid,
        vec![
            Signer::new("a@example.org", "Айгуль", "Smith, Jr", "KG").comment("=1+1"),
            Signer::new("b@example.org", "Bob", "Bee", "GB").at("2026-11-21 08:00:00"),
            Signer::new("c@example.org", "Cee", "Cee", "KG").pending(),
        ],
    )
    .await;
    for status in ["confirmed", "pending", "all"] {
        let api = app
            .get(
                &format!("/api/v1/petitions/{pid}/signatures.csv?status={status}"),
                &c,
            )
            .await
            .bytes()
            .await
            .unwrap();
        let out = clarion(
            &app,
            &[
                "export",
                "signatures",
                "--petition",
                "cli-export",
                "--status",
                status,
            ],
            None,
        )
        .await;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.stdout, api.to_vec(), "{status}");
    }
    let file = app.dir.path().join("out.csv");
    let out = clarion(
        &app,
        &[
            "export",
            "signatures",
            "--petition",
            "cli-export",
            "--out",
            file.to_str().unwrap(),
        ],
        None,
    )
    .await;
    assert!(out.status.success());
    assert_eq!(parse_csv(&std::fs::read(&file).unwrap()).len(), 3);

    for by in ["country", "day"] {
        let api: Value = app
            .get(&format!("/api/v1/petitions/{pid}/counts?by={by}"), &c)
            .await
            .json()
            .await
            .unwrap();
        let out = clarion(
            &app,
            &["export", "counts", "--petition", "cli-export", "--by", by],
            None,
        )
        .await;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let rows = parse_csv(&out.stdout);
        assert_eq!(rows[0], ["key", "count"]);
        let cli: serde_json::Map<String, Value> = rows[1..]
            .iter()
            .map(|r| (r[0].clone(), Value::from(r[1].parse::<i64>().unwrap())))
            .collect();
        assert_eq!(Value::Object(cli), api["by"], "{by}");
    }
    let out = clarion(
        &app,
        &[
            "export",
            "counts",
            "--petition",
            "cli-export",
            "--by",
            "day",
        ],
        None,
    )
    .await;
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "key,count\r\n2026-11-20,1\r\n2026-11-21,1\r\n"
    );
}

async fn an_unknown_petition_or_file_is_a_one_line_error(b: Backend) {
    let app = spawn_app(b).await;
    let out = clarion(
        &app,
        &["import", "supporters", "/no/such/file.csv", "--list", "L"],
        None,
    )
    .await;
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("/no/such/file.csv"), "{stderr}");
    let file = app.dir.path().join("no-email.csv");
    std::fs::write(&file, "name\nAnn\n").unwrap();
    let out = clarion(
        &app,
        &[
            "import",
            "supporters",
            file.to_str().unwrap(),
            "--list",
            "L",
        ],
        None,
    )
    .await;
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("email"), "{stderr}");

    let out = clarion(&app, &["export", "signatures", "--petition", "nope"], None).await;
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("nope"), "{stderr}");
}

#[test]
fn the_data_commands_have_help() {
    for args in [
        vec!["import", "supporters", "--help"],
        vec!["export", "signatures", "--help"],
        vec!["export", "counts", "--help"],
    ] {
        let out = Command::new(clarion_bin()).args(&args).output().unwrap();
        assert!(out.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage"),
            "{args:?}"
        );
    }
}
