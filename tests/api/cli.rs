//! The `sendwell` binary as a person runs it.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

#[tokio::test]
async fn serve_starts_on_embedded_defaults_and_says_what_to_do_next() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    let child = Command::new(env!("CARGO_BIN_EXE_sendwell"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--smtp-listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(&data)
        .env_remove("SENDWELL_DATABASE_URL")
        .env_remove("SENDWELL_OPERATOR_TOKEN")
        .env_remove("SENDWELL_CONFIG")
        .env("SENDWELL_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sendwell serve");
    let mut child = Child(child);
    let stderr = child.0.stderr.take().expect("stderr");
    let (warned, warnings) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if warned.send(line).is_err() {
                break;
            }
        }
    });
    let stdout = child.0.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().expect("a line").expect("text");
    let url = first.rsplit(' ').next().expect("url").to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{first}");
    let mut rest = String::new();
    for line in lines.by_ref().take(8) {
        rest.push_str(&line.expect("text"));
        rest.push('\n');
    }
    assert!(rest.contains("SQLite"), "{rest}");
    assert!(rest.contains("operator-token"), "{rest}");
    assert!(
        rest.contains("/v1/workspaces"),
        "the next step is printed: {rest}"
    );
    // Without a public URL the links of every mail would point here: said
    // at once, on standard error.
    let mut seen = Vec::new();
    while !seen
        .iter()
        .any(|l: &String| l.starts_with("warning: SENDWELL_PUBLIC_URL is not set"))
    {
        match warnings.recv_timeout(std::time::Duration::from_secs(10)) {
            Ok(line) => seen.push(line),
            Err(_) => panic!("no warning about the public URL: {seen:?}"),
        }
    }

    let token_file = data.join("operator-token");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&token_file)
            .expect("token file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(
        data.join("sendwell.db").exists(),
        "the SQLite file is created on first start"
    );
    let token = std::fs::read_to_string(&token_file)
        .expect("token")
        .trim()
        .to_owned();
    sendwell_server::install_crypto_provider();
    let client = reqwest::Client::new();
    let health: serde_json::Value = client
        .get(format!("{url}/healthz"))
        .send()
        .await
        .expect("health")
        .json()
        .await
        .expect("json");
    assert_eq!(health["status"], "ok");
    let created = client
        .post(format!("{url}/v1/workspaces"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"name": "Acme"}))
        .send()
        .await
        .expect("create");
    assert_eq!(created.status().as_u16(), 201);
}

#[test]
fn a_bad_setting_stops_start_up_with_a_clear_message() {
    let dir = tempfile::tempdir().expect("dir");
    let config = dir.path().join("sendwell.toml");
    std::fs::write(&config, "listen = \"127.0.0.1:0\"\ndatabse_url = \"x\"\n").expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_sendwell"))
        .args(["serve", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("databse_url"), "{stderr}");
    let out = Command::new(env!("CARGO_BIN_EXE_sendwell"))
        .args([
            "migrate",
            "--database-url",
            "mysql://localhost/x",
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("sqlite://PATH or postgres://"));
}

#[test]
fn check_address_prints_one_json_line_per_address() {
    let out = Command::new(env!("CARGO_BIN_EXE_sendwell"))
        .args([
            "check-address",
            "--offline",
            "ann@gmail.com",
            "info@acme-corp.com",
            "bob@gmial.com",
            "x@example.com",
            "broken@",
        ])
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), 5);
    assert_eq!(
        (lines[0]["address"].as_str(), lines[0]["verdict"].as_str()),
        (Some("ann@gmail.com"), Some("valid"))
    );
    assert_eq!(lines[1]["verdict"], "risky");
    assert_eq!(lines[1]["reasons"], serde_json::json!(["role_account"]));
    assert_eq!(lines[2]["suggestion"], "bob@gmail.com");
    assert_eq!(lines[3]["reasons"], serde_json::json!(["reserved_domain"]));
    assert_eq!(lines[4]["verdict"], "invalid");
    assert_eq!(lines[4]["reasons"], serde_json::json!(["syntax"]));
}

#[tokio::test]
async fn import_streams_a_file_with_a_progress_bar() {
    let app = crate::support::TestApp::sqlite().await;
    let ws = app.workspace("Acme").await;
    let file = app.dir.path().join("users.csv");
    let mut csv = String::from("email,name\n");
    for i in 0..500 {
        csv.push_str(&format!("user{i}@gmail.com,User {i}\n"));
    }
    std::fs::write(&file, csv).expect("write csv");
    // The command runs on a blocking thread so this test's runtime keeps serving.
    let run = |source: &'static str| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sendwell"));
        cmd.arg("import").arg(&file).args([
            "--source",
            source,
            "--description",
            "our app's users",
            "--server",
            &app.base,
            "--api-key",
            &ws.key,
        ]);
        tokio::task::spawn_blocking(move || cmd.output())
    };
    let out = run("product_users").await.expect("joined").expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("100%"), "a progress bar: {stderr}");
    assert!(stderr.contains("accepted"), "{stderr}");
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("the report as JSON");
    assert_eq!(report["counts"]["imported"], 500);
    let out = run("purchased").await.expect("joined").expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not allowed"));
}

#[tokio::test]
async fn send_composes_checks_and_sends_and_outbox_lists_and_prints_the_mails() {
    let app = crate::support::TestApp::sqlite().await;
    let ws = app.ready_workspace("Acme").await;
    let id = app
        .contact(
            &ws.key,
            serde_json::json!({"email": "ann@gmail.com", "name": "Ann"}),
        )
        .await;
    app.post(
        &format!("/v1/contacts/{id}/consent"),
        &ws.key,
        serde_json::json!({"action": "opt_in", "method": "form", "evidence": {"wording": "News please"}}),
    )
    .await
    .expect(201);
    let file = app.dir.path().join("message.json");
    std::fs::write(
        &file,
        serde_json::json!({
            "name": "CLI news", "kind": "marketing",
            "from": {"name": "Acme", "address": "news@acme-mail.com"},
            "subject": "Hello {{ first_name }}",
            "template": {"layout": "plain", "text": "Hi {{ first_name }}."}
        })
        .to_string(),
    )
    .expect("write");
    let run = |args: Vec<String>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sendwell"));
        cmd.args(args)
            .args(["--server", &app.base, "--api-key", &ws.key]);
        tokio::task::spawn_blocking(move || cmd.output())
    };
    let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<String>>();
    let out = run(s(&["send", "--file", file.to_str().expect("path")]))
        .await
        .expect("joined")
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let sent: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(sent["queued"], 1);
    let message = sent["id"].as_str().expect("id").to_owned();
    // Sending the same message again is refused with the reason.
    let out = run(s(&["send", &message]))
        .await
        .expect("joined")
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already_sent"));
    let mut listed = String::new();
    for _ in 0..200 {
        let out = run(s(&["outbox", "--message", &message]))
            .await
            .expect("joined")
            .expect("run");
        assert!(out.status.success());
        listed = String::from_utf8_lossy(&out.stdout).into_owned();
        if !listed.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    let item: serde_json::Value =
        serde_json::from_str(listed.lines().next().expect("a line")).expect("json");
    assert_eq!(item["to"], "ann@gmail.com");
    assert_eq!(item["subject"], "Hello Ann");
    let out = run(s(&["outbox", "--raw", item["id"].as_str().expect("id")]))
        .await
        .expect("joined")
        .expect("run");
    let raw = String::from_utf8_lossy(&out.stdout);
    assert!(
        raw.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"),
        "{raw}"
    );
    assert!(raw.contains("Subject: Hello Ann"), "{raw}");
}

#[test]
fn screen_prints_one_json_line_per_file_with_verdict_and_hits() {
    let dir = tempfile::tempdir().expect("dir");
    let scam = dir.path().join("scam.eml");
    let sale = dir.path().join("sale.eml");
    std::fs::write(
        &scam,
        "From: Barrister James <james@lawyer-mail.com>\r\nSubject: Confidential: your inheritance\r\n\r\n\
         I am the solicitor of your long-lost relative, who left an inheritance of $15,500,000 in a Swiss bank \
         account. As next of kin you receive 40% of the funds. Send your bank account number and a processing \
         fee of $450 to release the transfer. Keep this strictly confidential.\r\n",
    )
    .expect("write");
    std::fs::write(
        &sale,
        "From: Acme <news@acme-mail.com>\r\nSubject: Spring sale: 30% off this weekend\r\n\r\n\
         Our spring sale starts Friday: 30% off everything in the shop until Sunday with the code SPRING30.\r\n",
    )
    .expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_sendwell"))
        .arg("screen")
        .arg(&scam)
        .arg(&sale)
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(1),
        "a file that is not `send` gives exit code 1"
    );
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["file"], scam.display().to_string());
    assert_eq!(lines[0]["verdict"], "block");
    assert!(lines[0]["score"].as_f64().expect("score") >= 10.0);
    let hit = &lines[0]["hits"][0];
    for key in ["rule", "explanation", "snippet"] {
        assert!(
            hit[key].as_str().is_some_and(|s| !s.is_empty()),
            "{key} in {hit}"
        );
    }
    assert_eq!(lines[1]["verdict"], "send", "{}", lines[1]);
    assert_eq!(lines[1]["hits"].as_array().expect("hits").len(), 0);
}

#[test]
fn parse_bounce_prints_one_line_per_bounced_recipient() {
    let dir = tempfile::tempdir().expect("dir");
    let dsn = dir.path().join("dsn.eml");
    std::fs::write(
        &dsn,
        "From: MAILER-DAEMON@mx.example.net\nTo: <bounces@example.org>\nSubject: Undelivered Mail Returned to Sender\n\
         MIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n\n\
         --B\nContent-Type: text/plain\n\nYour message could not be delivered.\n\n\
         --B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.net\n\n\
         Final-Recipient: rfc822; gone@example.net\nAction: failed\nStatus: 5.1.1\n\
         Diagnostic-Code: smtp; 550 5.1.1 <gone@example.net>: Recipient address rejected: User unknown\n\n\
         Final-Recipient: rfc822; full@example.net\nAction: failed\nStatus: 4.2.2\n\
         Diagnostic-Code: smtp; 452 4.2.2 <full@example.net>: Mailbox full\n\n--B--\n",
    )
    .expect("write");
    let hello = dir.path().join("hello.eml");
    std::fs::write(
        &hello,
        "From: ada@example.org\nTo: bob@example.net\nSubject: lunch?\n\nShall we meet at noon?\n",
    )
    .expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_sendwell"))
        .arg("parse-bounce")
        .arg(&dsn)
        .arg(&hello)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(lines[0]["index"], 1);
    assert_eq!(lines[0]["recipient"], "gone@example.net");
    assert_eq!(lines[0]["reason"], "userunknown");
    assert_eq!(lines[0]["hardbounce"], true);
    assert_eq!(lines[0]["status"], "5.1.1");
    assert_eq!(lines[0]["replycode"], "550");
    assert_eq!(lines[1]["index"], 2);
    assert_eq!(lines[1]["recipient"], "full@example.net");
    assert_eq!(lines[1]["reason"], "mailboxfull");
    assert_eq!(lines[1]["hardbounce"], false);
    assert!(lines[2]["file"]
        .as_str()
        .expect("file")
        .ends_with("hello.eml"));
    assert_eq!(lines[2]["index"], 0, "not a bounce");
    for key in [
        "file",
        "index",
        "recipient",
        "reason",
        "hardbounce",
        "status",
        "replycode",
        "feedbacktype",
    ] {
        assert!(lines[0].get(key).is_some(), "{key} is in every line");
    }
}

/// Issue #14, item 24: read-only commands made a data directory where
/// none was; a closed pipe panicked; `send --file --preflight` composed a
/// draft.
#[tokio::test]
async fn the_cli_reads_without_writing_and_stops_quietly_at_a_closed_pipe() {
    let dir = tempfile::tempdir().expect("dir");
    let missing = dir.path().join("typo");
    for args in [
        vec!["workspace", "list"],
        vec!["guidelines", "show"],
        vec![
            "consent",
            "verify",
            "--workspace",
            "ws_00000000000000000000000000",
        ],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_sendwell"))
            .args(&args)
            .arg("--data-dir")
            .arg(&missing)
            .env_remove("SENDWELL_DATABASE_URL")
            .env_remove("SENDWELL_CONFIG")
            .output()
            .expect("run");
        assert!(!out.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("no sendwell data directory"),
            "{args:?}: {stderr}"
        );
        assert!(!missing.exists(), "{args:?} created {}", missing.display());
    }

    // 5,000 lines into a reader that leaves after the first.
    let addresses: Vec<String> = (0..5000).map(|i| format!("user{i}@gmail.com")).collect();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sendwell"))
        .args(["check-address", "--offline"])
        .args(&addresses)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    assert!(lines.next().is_some());
    drop(lines);
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("Broken pipe"), "{stderr}");
    assert_eq!(out.status.code(), Some(141), "{stderr}");

    // Checking a message from a file stores nothing.
    let app = crate::support::TestApp::sqlite().await;
    let ws = app.ready_workspace("Acme").await;
    let file = app.dir.path().join("message.json");
    std::fs::write(
        &file,
        serde_json::json!({
            "name": "Checked only", "kind": "marketing",
            "from": {"name": "Acme", "address": "news@acme-mail.com"},
            "subject": "Hello", "template": {"layout": "plain", "text": "Hi."}
        })
        .to_string(),
    )
    .expect("write");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sendwell"));
    cmd.args(["send", "--preflight", "--file"])
        .arg(&file)
        .args(["--server", &app.base, "--api-key", &ws.key]);
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("joined")
        .expect("run");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a report");
    assert!(report["blockers"].is_array(), "{report}");
    let list = app.get("/v1/messages", &ws.key).await.expect(200);
    assert_eq!(list["items"], serde_json::json!([]), "{list}");
}

/// Regression: `bench deliver` declared `first_name` as an attribute after
/// templates reserved the name (issue #14), so the benchmark the README
/// and BENCHMARKS cite stopped with a 422. Each benchmark runs end to end
/// on a few rows and prints its line.
#[test]
fn the_benchmarks_run_end_to_end() {
    let run = |args: &[&str]| -> Vec<serde_json::Value> {
        let out = Command::new(env!("CARGO_BIN_EXE_sendwell"))
            .args(args)
            .env("SENDWELL_LOG", "warn")
            .output()
            .expect("run");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect()
    };
    for dkim in ["none", "rsa"] {
        let line = &run(&["bench", "deliver", "--recipients", "40", "--dkim", dkim])[0];
        assert_eq!(line["delivered"], 40, "{line}");
        assert_eq!(line["sink_accepted"], 40, "{line}");
    }
    let line = &run(&["bench", "deliver", "--recipients", "60", "--scheduled"])[0];
    assert_eq!(
        (line["delivered"].as_i64(), line["sink_accepted"].as_i64()),
        (Some(60), Some(60)),
        "every mail once, across the pause: {line}"
    );
    assert!(
        line["release_seconds"].as_f64().is_some_and(|s| s >= 0.0),
        "{line}"
    );
    let line = &run(&["bench", "import", "--rows", "200", "--consent"])[0];
    assert_eq!(line["imported"], 200, "{line}");
    let lines = run(&["bench", "audience", "--contacts", "120", "--runs", "1"]);
    assert_eq!(lines.len(), 4, "three cases and the store's own");
    assert_eq!(lines[1]["eligible"], 120, "{}", lines[1]);
    let line = &run(&["bench", "contacts", "--count", "100"])[0];
    assert_eq!(line["contacts"], 100, "{line}");
    let line = &run(&["bench", "render", "--mails", "50"])[0];
    assert_eq!(
        (line["mails"].as_u64(), line["tracked_links"].as_u64()),
        (Some(50), Some(10)),
        "{line}"
    );
}

/// `sendwell operator add-user | users | remove-user`, as the operator runs them.
#[test]
fn the_delivery_team_is_added_listed_and_removed_from_the_command_line() {
    let dir = tempfile::tempdir().expect("dir");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_sendwell"))
            .args(["operator"])
            .args(args)
            .arg("--data-dir")
            .arg(dir.path())
            .env_remove("SENDWELL_DATABASE_URL")
            .env_remove("SENDWELL_CONFIG")
            .env("SENDWELL_PUBLIC_URL", "https://mail.example.org")
            .output()
            .expect("run")
    };
    let added = run(&["add-user", "Olga@Platform.example", "--role", "auditor"]);
    let text = String::from_utf8_lossy(&added.stdout);
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    assert!(
        text.contains("olga@platform.example is an auditor"),
        "{text}"
    );
    assert!(
        text.contains("https://mail.example.org/operator/setup/"),
        "a one-time link: {text}"
    );
    let bad_role = run(&["add-user", "x@platform.example", "--role", "boss"]);
    assert!(!bad_role.status.success());
    assert!(String::from_utf8_lossy(&bad_role.stderr).contains("operator or auditor"));
    let users = run(&["users"]);
    let list = String::from_utf8_lossy(&users.stdout);
    assert!(
        list.contains("olga@platform.example\tauditor\tsetup link not used yet"),
        "{list}"
    );
    let removed = run(&["remove-user", "olga@platform.example"]);
    assert!(removed.status.success());
    let again = run(&["remove-user", "olga@platform.example"]);
    assert!(!again.status.success(), "not on the team any more");
    let users = run(&["users"]);
    assert!(!String::from_utf8_lossy(&users.stdout).contains("olga@"));
}
