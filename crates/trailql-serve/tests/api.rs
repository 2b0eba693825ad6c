//! The server's API over a generated trail: who may call it, what it runs, what it answers.

mod common;

use std::collections::HashSet;

use common::start;
use serde_json::Value;
use trailql_testkit::request;

#[test]
fn no_token_is_401_and_a_wrong_one_too() {
    let s = start(3_000);
    for path in ["/", "/api/info", "/assets/x.js", "/api/jobs/1"] {
        let r = request(s.addr, "GET", path, &[], b"").unwrap();
        assert_eq!(r.status, 401, "{path}: {}", r.text());
        assert!(r.text().contains("token"), "{}", r.text());
    }
    let wrong = format!("Bearer {}", "0".repeat(64));
    let r = request(
        s.addr,
        "GET",
        "/api/info",
        &[("Authorization", wrong.as_str())],
        b"",
    )
    .unwrap();
    assert_eq!(r.status, 401);
    let r = request(s.addr, "GET", "/?token=abc", &[], b"").unwrap();
    assert_eq!(r.status, 401);
    // A statement without the token never runs.
    let r = request(
        s.addr,
        "POST",
        "/api/query",
        &[("Content-Type", "application/json")],
        br#"{"sql":"SELECT 1"}"#,
    )
    .unwrap();
    assert_eq!(r.status, 401);
}

#[test]
fn foreign_host_or_origin_is_403_and_no_cors_headers_are_sent() {
    let s = start(3_000);
    let auth = format!("Bearer {}", s.token);
    let port = s.addr.port();
    let evil_host = format!("evil.example:{port}");
    let r = request(
        s.addr,
        "GET",
        "/api/info",
        &[
            ("Authorization", auth.as_str()),
            ("Host", evil_host.as_str()),
        ],
        b"",
    )
    .unwrap();
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("DNS rebinding"), "{}", r.text());
    // Even with the token in the URL.
    let path = format!("/?token={}", s.token);
    let r = request(s.addr, "GET", &path, &[("Host", evil_host.as_str())], b"").unwrap();
    assert_eq!(r.status, 403);
    let evil_origin = format!("http://evil.example:{port}");
    let r = request(
        s.addr,
        "POST",
        "/api/query",
        &[
            ("Authorization", auth.as_str()),
            ("Origin", evil_origin.as_str()),
            ("Content-Type", "application/json"),
        ],
        br#"{"sql":"SELECT 1"}"#,
    )
    .unwrap();
    assert_eq!(r.status, 403, "{}", r.text());
    // Its own names pass.
    for host in [format!("localhost:{port}"), format!("127.0.0.1:{port}")] {
        let origin = format!("http://{host}");
        let r = request(
            s.addr,
            "GET",
            "/api/info",
            &[
                ("Authorization", auth.as_str()),
                ("Host", host.as_str()),
                ("Origin", origin.as_str()),
            ],
            b"",
        )
        .unwrap();
        assert_eq!(r.status, 200, "{host}: {}", r.text());
        assert!(r.header("access-control-allow-origin").is_none());
        assert_eq!(r.header("x-frame-options"), Some("DENY"));
        assert!(r
            .header("content-security-policy")
            .unwrap()
            .contains("default-src 'self'"));
    }
}

#[test]
fn the_printed_url_swaps_its_token_for_a_cookie_and_serves_the_page() {
    let s = start(3_000);
    let path = s
        .url
        .split_once(&format!("{}", s.addr.port()))
        .unwrap()
        .1
        .to_string();
    assert!(path.starts_with("/?token="), "{}", s.url);
    let r = request(s.addr, "GET", &path, &[], b"").unwrap();
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/"));
    let cookie = r.header("set-cookie").unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().unwrap().to_string();
    let page = request(s.addr, "GET", "/", &[("Cookie", pair.as_str())], b"").unwrap();
    assert_eq!(page.status, 200);
    assert!(page
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    let html = page.text();
    assert!(html.contains("<script type=\"module\""), "{html}");
    // Its script is embedded too: the asset named in the page is served (no CDN, no network).
    let src = html
        .split("src=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    assert!(src.starts_with("/assets/"), "{src}");
    let js = request(s.addr, "GET", src, &[("Cookie", pair.as_str())], b"").unwrap();
    assert_eq!(js.status, 200);
    assert!(js.body.len() > 10_000);
    assert!(
        !js.text().contains("https://cdn"),
        "the bundle fetches nothing from the network"
    );
}

#[test]
fn statements_that_write_or_register_are_refused_before_they_run() {
    let s = start(3_000);
    let out = s.dir.path().join("written.csv");
    let statements = [
        format!("COPY (SELECT 1) TO '{}'", out.display()),
        "CREATE TABLE t AS SELECT 1".to_string(),
        "CREATE VIEW v AS SELECT * FROM cloudtrail_logs".to_string(),
        format!(
            "CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '{}'",
            s.dir.path().display()
        ),
        "DROP TABLE cloudtrail_logs".to_string(),
        "SET datafusion.execution.batch_size = 1".to_string(),
        "INSERT INTO cloudtrail_logs SELECT * FROM cloudtrail_logs".to_string(),
    ];
    for sql in &statements {
        let st = s.run(sql);
        assert_eq!(st["phase"], "failed", "{sql}: {st}");
        let m = st["error"]["message"].as_str().unwrap();
        assert!(
            m.contains("only statements that read")
                || m.contains("not supported")
                || m.contains("Unsupported"),
            "{sql}: {m}"
        );
    }
    assert!(!out.exists(), "COPY wrote a file");
    // The table is still there, and reads still run.
    let st = s.run("SELECT count(*) AS n FROM cloudtrail_logs");
    assert_eq!(st["phase"], "done", "{st}");
    let st = s.run("EXPLAIN SELECT eventname FROM cloudtrail_logs");
    assert_eq!(st["phase"], "done", "{st}");
    let st = s.run("WITH x AS (SELECT 1 AS a) SELECT a FROM x");
    assert_eq!(st["phase"], "done", "{st}");
}

fn page(s: &common::Running, id: u64, q: &str) -> Value {
    s.json("GET", &format!("/api/jobs/{id}/rows?{q}"), "")
}

#[test]
fn a_query_answers_its_rows_with_progress_paging_and_sorting() {
    let s = start(5_000);
    let st = s.run("SELECT eventname, count(*) AS n FROM cloudtrail_logs GROUP BY eventname");
    assert_eq!(st["phase"], "done", "{st}");
    let id = st["id"].as_u64().unwrap();
    let names: Vec<&str> = st["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["eventname", "n"]);
    let p = &st["progress"];
    assert!(p["files_read"].as_u64().unwrap() > 0, "{st}");
    assert_eq!(p["files_read"], p["files_to_read"]);
    assert!(p["events"].as_u64().unwrap() >= 4_000, "{st}");
    assert!(p["s3_requests"].is_null());
    let rows = st["rows"].as_u64().unwrap() as usize;
    assert!(rows > 5);
    // Sorted by n, descending: counts never grow down the pages, and sum to the events.
    let mut all = Vec::new();
    for offset in (0..rows).step_by(3) {
        let p = page(&s, id, &format!("offset={offset}&limit=3&sort=n&desc=true"));
        assert_eq!(p["total"].as_u64().unwrap() as usize, rows);
        for r in p["rows"].as_array().unwrap() {
            all.push(r[1].as_str().unwrap().parse::<u64>().unwrap());
        }
    }
    assert_eq!(all.len(), rows);
    assert!(all.windows(2).all(|w| w[0] >= w[1]), "{all:?}");
    assert_eq!(all.iter().sum::<u64>(), p["events"].as_u64().unwrap());
    // Ascending by name.
    let p = page(&s, id, "limit=1000&sort=eventname");
    let got: Vec<&str> = p["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[0].as_str().unwrap())
        .collect();
    let mut sorted = got.clone();
    sorted.sort();
    assert_eq!(got, sorted);
    // Past the end: empty; an unknown column: a 400 that names it.
    let p = page(&s, id, "offset=100000");
    assert_eq!(p["rows"].as_array().unwrap().len(), 0);
    let r = s.call("GET", &format!("/api/jobs/{id}/rows?sort=nope"), "");
    assert_eq!(r.status, 400);
    assert!(r.text().contains("nope"));
    let r = s.call("GET", &format!("/api/jobs/{id}/rows?offset=-1"), "");
    assert_eq!(r.status, 400);
}

#[test]
fn a_100k_row_answer_pages_and_sorts_on_the_server() {
    let s = start(2_000);
    let st = s.run("SELECT unnest(range(0, 100000)) AS n");
    assert_eq!(st["phase"], "done", "{st}");
    assert_eq!(st["rows"], 100_000);
    assert_eq!(st["truncated"], false);
    let id = st["id"].as_u64().unwrap();
    let p = page(&s, id, "offset=99990&limit=100");
    let rows = p["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 10);
    assert_eq!(rows[9][0], "99999");
    // At most 1000 rows a page, whatever is asked.
    let p = page(&s, id, "limit=1000000");
    assert_eq!(p["rows"].as_array().unwrap().len(), 1000);
    let p = page(&s, id, "limit=2&sort=n&desc=true");
    assert_eq!(p["rows"], serde_json::json!([["99999"], ["99998"]]));
    let v = s.json("GET", &format!("/api/jobs/{id}/column?name=n"), "");
    assert_eq!(v["values"].as_array().unwrap().len(), 100_000);
}

#[test]
fn exposure_answers_every_planted_opening_with_nested_values_as_json() {
    let s = start(5_000);
    let st = s.run("SELECT * FROM exposure()");
    assert_eq!(st["phase"], "done", "{st}");
    let id = st["id"].as_u64().unwrap();
    let v = s.json("GET", &format!("/api/jobs/{id}/column?name=eventid"), "");
    let got: HashSet<&str> = v["values"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|x| x.as_str())
        .collect();
    for o in &s.truth.openings {
        assert!(
            got.contains(o.event_id.as_str()),
            "opening {} missing",
            o.event_id
        );
    }
    // Structs come as JSON text.
    let st = s.run("SELECT useridentity FROM cloudtrail_logs LIMIT 1");
    let id = st["id"].as_u64().unwrap();
    let p = page(&s, id, "");
    let cell = p["rows"][0][0].as_str().unwrap();
    let parsed: Value = serde_json::from_str(cell).unwrap_or_else(|e| panic!("{cell}: {e}"));
    assert!(parsed.get("type").is_some(), "{cell}");
}

#[test]
fn downloads_hold_every_row_in_each_format() {
    let s = start(5_000);
    let st = s.run("SELECT eventid, eventname, useridentity FROM cloudtrail_logs WHERE eventsource = 'ec2.amazonaws.com'");
    assert_eq!(st["phase"], "done", "{st}");
    let id = st["id"].as_u64().unwrap();
    let n = st["total_rows"].as_u64().unwrap() as usize;
    assert!(n > 10);
    let csv = s.call("GET", &format!("/api/jobs/{id}/download?format=csv"), "");
    assert_eq!(csv.status, 200);
    assert!(csv.header("content-disposition").unwrap().contains(".csv"));
    let mut reader = csv.body.as_slice();
    let mut first = String::new();
    std::io::BufRead::read_line(&mut reader, &mut first).unwrap();
    assert_eq!(first.trim(), "eventid,eventname,useridentity");
    // Rows may hold quoted newlines in no column here: one line each.
    let lines = std::io::BufRead::lines(reader).count();
    assert_eq!(lines, n);
    let json: Value = serde_json::from_slice(
        &s.call("GET", &format!("/api/jobs/{id}/download?format=json"), "")
            .body,
    )
    .unwrap();
    assert_eq!(json.as_array().unwrap().len(), n);
    let pq = s.call(
        "GET",
        &format!("/api/jobs/{id}/download?format=parquet"),
        "",
    );
    assert_eq!(&pq.body[..4], b"PAR1");
    assert_eq!(&pq.body[pq.body.len() - 4..], b"PAR1");
    let bad = s.call("GET", &format!("/api/jobs/{id}/download?format=xlsx"), "");
    assert_eq!(bad.status, 400);
}

#[test]
fn errors_say_where_in_the_statement() {
    let s = start(2_000);
    let st = s.run("SELECT eventname\nFROM cloudtrail_logs\nWHERE AND eventname = 'x'");
    assert_eq!(st["phase"], "failed", "{st}");
    assert_eq!(st["error"]["line"], 3, "{st}");
    assert!(st["error"]["column"].as_u64().unwrap() >= 7, "{st}");
    let st = s.run("SELECT nosuchcolumn FROM cloudtrail_logs");
    assert_eq!(st["phase"], "failed");
    assert!(
        st["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nosuchcolumn"),
        "{st}"
    );
}

#[test]
fn bad_requests_are_answered_not_crashed() {
    let s = start(2_000);
    for body in ["", "not json", "{\"sql\": 5}", "{}", "{\"sql\": \"  \"}"] {
        let r = s.call("POST", "/api/query", body);
        assert!(
            matches!(r.status, 400 | 415 | 422),
            "{body}: {} {}",
            r.status,
            r.text()
        );
    }
    for path in [
        "/api/jobs/999",
        "/api/jobs/x",
        "/api/jobs/999/rows",
        "/api/nope",
    ] {
        let r = s.call("GET", path, "");
        assert_eq!(r.status, 404, "{path}: {}", r.text());
    }
    let r = s.call("POST", "/api/integrity", r#"{"start":"2024-08-01"}"#);
    assert_eq!(r.status, 404);
    assert!(r.text().contains("--public-keys"));
    let huge = serde_json::json!({ "sql": "x".repeat(3 << 20) }).to_string();
    let r = s.call("POST", "/api/query", &huge);
    assert!(matches!(r.status, 400 | 413), "{}", r.status);
    // The server still answers.
    assert_eq!(s.run("SELECT 1 AS one")["phase"], "done");
}

#[test]
fn a_long_statement_is_cancelled_and_the_next_one_runs() {
    let s = start(3_000);
    let id = s.submit(
        "SELECT count(*) FROM cloudtrail_logs a CROSS JOIN cloudtrail_logs b CROSS JOIN cloudtrail_logs c",
    );
    // Queued behind nothing: it starts.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while s.json("GET", &format!("/api/jobs/{id}"), "")["phase"] != "running" {
        assert!(std::time::Instant::now() < deadline);
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let r = s.json("POST", &format!("/api/jobs/{id}/cancel"), "");
    assert_eq!(r["cancelled"], true, "{r}");
    assert_eq!(s.wait(id)["phase"], "cancelled");
    let next = s.run("SELECT count(*) AS n FROM cloudtrail_logs");
    assert_eq!(next["phase"], "done", "{next}");
    let r = s.call("GET", &format!("/api/jobs/{id}/download?format=csv"), "");
    assert_eq!(r.status, 409);
}

#[test]
fn the_schema_lists_columns_fields_functions_and_examples() {
    let s = start(2_000);
    let c = s.json("GET", "/api/schema", "");
    assert_eq!(c["table"], "cloudtrail_logs");
    let cols = c["columns"].as_array().unwrap();
    let ui = cols.iter().find(|x| x["name"] == "useridentity").unwrap();
    assert!(
        ui["fields"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "useridentity.sessioncontext.sessionissuer.arn"),
        "{ui}"
    );
    assert!(ui["type"].as_str().unwrap().starts_with("struct<"));
    let f: Vec<&str> = c["functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    for name in [
        "json_extract_scalar",
        "from_iso8601_timestamp",
        "count",
        "date_diff",
    ] {
        assert!(f.contains(&name), "{name} missing");
    }
    let tf: Vec<&str> = c["table_functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    assert_eq!(tf, ["exposure", "history", "activity", "detections"]);
    // Every example runs.
    for x in c["examples"].as_array().unwrap() {
        let sql = x["sql"].as_str().unwrap();
        let st = s.run(sql);
        assert_eq!(st["phase"], "done", "{sql}: {st}");
    }
}
