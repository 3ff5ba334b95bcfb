//! End to end, governance through the CLI: the real `hangar serve` (started
//! with a known administrator token) and the real client as administrators,
//! data scientists, maintainers, approvers, viewers and consumer keys —
//! logins, roles and teams, scoped consumer keys, four-eyes approval, signed
//! versions, the audit log and revoked tokens.

mod common;

use common::{hangar, reference, table_rows, Server, ADMIN};

const PASSWORD: &str = "correct horse battery staple";

fn model() -> String {
    reference("models/gbdt/model.onnx")
        .to_str()
        .unwrap()
        .to_owned()
}

fn request() -> String {
    reference("fixed_inputs_200.request.json")
        .to_str()
        .unwrap()
        .to_owned()
}

/// Creates `user` with `role` in `team` (by the administrator) and returns
/// a token for them.
fn user_with_token(server: &Server, user: &str, team: &str, role: &str) -> String {
    server
        .hangar(&["user", "create", user, "--team", team, "--role", role])
        .ok();
    token_for(server, user)
}

fn token_for(server: &Server, user: &str) -> String {
    let created = server
        .hangar(&["token", "create", "--user", user, "--output", "json"])
        .ok()
        .json();
    created["token"].as_str().unwrap().to_owned()
}

#[test]
fn logins_roles_teams_and_consumer_keys_decide_who_does_what() {
    let server = Server::start();
    server.hangar(&["team", "create", "credit"]).ok();
    server.hangar(&["team", "create", "fraud"]).ok();
    let teams = server.hangar(&["team", "list"]).ok();
    let names: Vec<String> = table_rows(&teams.stdout)[1..]
        .iter()
        .map(|r| r[0].clone())
        .collect();
    assert!(
        names.contains(&"credit".into()) && names.contains(&"fraud".into()),
        "{teams:#?}"
    );

    // A user with a password, created by the administrator.
    let created = server
        .hangar_with_stdin(
            &[
                "user",
                "create",
                "ada",
                "--team",
                "credit",
                "--role",
                "data-scientist",
                "--password-stdin",
            ],
            format!("{PASSWORD}\n").as_bytes(),
        )
        .ok();
    assert_eq!(
        created.stdout,
        "created user ada (credit: data-scientist); they log in with \
         `hangar login --user ada --password-stdin`\n"
    );

    // Password login stores the token, privately, for this server.
    let wrong = server
        .run(
            None,
            &["login", "--user", "ada", "--password-stdin"],
            Some(b"not the password\n"),
        )
        .error_line();
    assert!(wrong.contains("wrong user name or password"), "{wrong}");
    let login = server
        .run(
            None,
            &["login", "--user", "ada", "--password-stdin"],
            Some(PASSWORD.as_bytes()),
        )
        .ok();
    assert!(
        login
            .stdout
            .starts_with(&format!("logged in to {} as ada (expires ", server.url)),
        "{login:#?}"
    );
    let credentials = server.config_dir().join("credentials.json");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&credentials)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let stored: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&credentials).unwrap()).unwrap();
    assert_eq!(stored["servers"][&server.url]["user"], "ada");
    let who = server.hangar_as(None, &["whoami"]).ok();
    assert!(who.stdout.starts_with("name:"), "{who:#?}");
    assert!(who.stdout.contains(" ada\n"), "{who:#?}");
    assert!(who.stdout.contains("credit: data-scientist"), "{who:#?}");

    // Ada (through her stored login) pushes a model and writes its card.
    let pushed = server
        .hangar_as(None, &["model", "push", &model(), "--name", "credit"])
        .ok();
    assert!(
        pushed.stderr.contains("created model credit"),
        "{pushed:#?}"
    );
    let card = server
        .hangar_as(
            None,
            &[
                "model",
                "card",
                "credit",
                "--risk-tier",
                "medium",
                "--intended-use",
                "pre-screening consumer loan applications",
                "--out-of-scope",
                "employment decisions",
                "--out-of-scope",
                "insurance pricing",
            ],
        )
        .ok();
    assert!(card.stdout.contains("team:          credit\n"), "{card:#?}");
    assert!(card.stdout.contains("risk tier:     medium\n"), "{card:#?}");
    assert!(
        card.stdout
            .contains("out of scope:\n  ✗ employment decisions\n  ✗ insurance pricing\n"),
        "{card:#?}"
    );

    let viewer = user_with_token(&server, "vic", "credit", "viewer");
    let maintainer = user_with_token(&server, "max", "credit", "maintainer");
    let other_team = user_with_token(&server, "bob", "fraud", "data-scientist");

    // A viewer reads but may not deploy: a clear 403 in one line.
    let listed = server.hangar_as(Some(&viewer), &["model", "list"]).ok();
    assert!(listed.stdout.contains("credit"), "{listed:#?}");
    let refused = server
        .hangar_as(
            Some(&viewer),
            &["deploy", "credit-api", "--model", "credit:1"],
        )
        .error_line();
    assert!(
        refused.contains("vic may not") && refused.contains("(HTTP 403)"),
        "{refused}"
    );

    // Another team's models are invisible.
    let theirs = server.hangar_as(Some(&other_team), &["model", "list"]).ok();
    assert!(!theirs.stdout.contains("credit"), "{theirs:#?}");

    // A maintainer deploys and issues a consumer key for one deployment.
    for d in ["credit-api", "other-api"] {
        server
            .hangar_as(Some(&maintainer), &["deploy", d, "--model", "credit:1"])
            .ok();
    }
    let issued = server
        .hangar_as(
            Some(&maintainer),
            &[
                "consumer-key",
                "create",
                "--deployment",
                "credit-api",
                "--purpose",
                "loan origination",
                "--name",
                "lender-app",
            ],
        )
        .ok();
    let out = &issued.stdout;
    assert!(
        out.starts_with("created consumer key ")
            && out.contains(" for credit-api (purpose: loan origination)\n"),
        "{out}"
    );
    assert!(out.contains("will not be shown again"), "{out}");
    assert!(
        out.contains(
            "Model credit (risk tier medium)\n  \
             Intended use: pre-screening consumer loan applications\n  \
             OUT OF SCOPE: this key must not be used for\n    \
             ✗ employment decisions\n    ✗ insurance pricing\n"
        ),
        "{out}"
    );
    let key = out
        .lines()
        .find_map(|l| l.strip_prefix("  hgr_"))
        .map(|rest| format!("hgr_{rest}"))
        .unwrap_or_else(|| panic!("no key in {out}"));

    // The key predicts on its deployment, and only there.
    let answer = server
        .hangar_as(
            Some(&key),
            &[
                "predict",
                "credit-api",
                "--json",
                &request(),
                "--output",
                "json",
            ],
        )
        .ok()
        .json();
    assert_eq!(answer["outputs"].as_array().unwrap().len(), 2, "{answer}");
    let elsewhere = server
        .hangar_as(Some(&key), &["predict", "other-api", "--json", &request()])
        .error_line();
    assert!(
        elsewhere.contains("not issued for deployment 'other-api'")
            && elsewhere.contains("(HTTP 403)"),
        "{elsewhere}"
    );
    let keys = server
        .hangar_as(Some(&maintainer), &["consumer-key", "list"])
        .ok();
    let rows = table_rows(&keys.stdout);
    assert_eq!(
        rows[0],
        [
            "ID",
            "NAME",
            "DEPLOYMENTS",
            "PURPOSE",
            "BY",
            "EXPIRES",
            "LAST USED",
            "REVOKED"
        ]
    );
    assert_eq!(
        rows[1][1..5],
        ["lender-app", "credit-api", "loan origination", "max"]
    );

    // Logging out revokes the stored token; without one, the way in is named.
    let out = server.hangar_as(None, &["logout"]).ok();
    assert_eq!(
        out.stdout,
        format!("logged out of {}; the token is revoked\n", server.url)
    );
    let anonymous = server.hangar_as(None, &["whoami"]).error_line();
    assert!(
        anonymous.contains("(HTTP 401)")
            && anonymous.contains("hangar login")
            && anonymous.contains("HANGAR_TOKEN"),
        "{anonymous}"
    );
}

#[test]
fn four_eyes_and_signatures_gate_production_traffic() {
    let server = Server::start();
    server.hangar(&["team", "create", "credit"]).ok();
    let ada = user_with_token(&server, "ada", "credit", "data-scientist");
    // Ada may also approve, but never her own versions.
    server
        .hangar(&[
            "user", "grant", "ada", "--team", "credit", "--role", "approver",
        ])
        .ok();
    let max = user_with_token(&server, "max", "credit", "maintainer");
    let grace = user_with_token(&server, "grace", "credit", "approver");

    server
        .hangar_as(
            Some(&ada),
            &["model", "push", &model(), "--name", "scoring"],
        )
        .ok();
    server
        .hangar_as(
            Some(&ada),
            &["model", "card", "scoring", "--risk-tier", "high"],
        )
        .ok();

    let refused = server
        .hangar_as(
            Some(&max),
            &["deploy", "scoring-api", "--model", "scoring:1"],
        )
        .error_line();
    assert!(refused.contains("approv"), "{refused}");
    let status = server.hangar(&["approvals", "scoring:1"]).ok();
    assert!(status.stdout.contains("pushed by:   ada\n"), "{status:#?}");
    assert!(
        status.stdout.contains("production:  NOT allowed: "),
        "{status:#?}"
    );

    let own = server
        .hangar_as(
            Some(&ada),
            &["approve", "scoring:1", "--comment", "looks fine to me"],
        )
        .error_line();
    assert!(
        own.contains("four eyes") && own.contains("(HTTP 403)"),
        "{own}"
    );
    let approved = server
        .hangar_as(
            Some(&grace),
            &[
                "approve",
                "scoring:1",
                "--comment",
                "validation report CR-112 reviewed",
            ],
        )
        .ok();
    assert!(
        approved.stdout.starts_with("approved scoring:1 (sha256:")
            && approved
                .stdout
                .ends_with(" as grace: validation report CR-112 reviewed\n"),
        "{approved:#?}"
    );
    let status = server.hangar(&["approvals", "scoring:1"]).ok();
    assert!(
        status.stdout.contains("production:  allowed\n"),
        "{status:#?}"
    );
    assert_eq!(
        table_rows(&status.stdout)
            .iter()
            .find(|r| r.first().map(String::as_str) == Some("approved"))
            .map(|r| r[1].clone()),
        Some("grace".to_owned()),
        "{status:#?}"
    );
    server
        .hangar_as(
            Some(&max),
            &["deploy", "scoring-api", "--model", "scoring:1"],
        )
        .ok();

    // Signed versions: a key made here, trusted by the administrator.
    let key = server.path("release.key");
    let generated = server
        .hangar_as(None, &["keys", "generate", "--out", &key])
        .ok();
    assert!(
        generated.stdout.starts_with("secret key: "),
        "{generated:#?}"
    );
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let public = format!("{key}.pub");
    assert_eq!(std::fs::read_to_string(&public).unwrap().trim().len(), 64);
    let again = server
        .hangar_as(None, &["keys", "generate", "--out", &key])
        .error_line();
    assert!(again.contains("exists already"), "{again}");
    server.hangar(&["keys", "trust", "release", &public]).ok();
    let keys = server.hangar(&["keys", "list"]).ok();
    assert_eq!(table_rows(&keys.stdout)[1][0], "release", "{keys:#?}");

    let signed = server
        .hangar_as(
            Some(&ada),
            &[
                "model",
                "push",
                &model(),
                "--name",
                "signed",
                "--sign",
                &key,
            ],
        )
        .ok();
    assert!(
        signed.stdout.contains("signed signed:1 (sha256:")
            && signed.stdout.contains(") with trusted key release\n"),
        "{signed:#?}"
    );
    server
        .hangar_as(Some(&ada), &["model", "push", &model(), "--name", "signed"])
        .ok();
    server
        .hangar_as(
            Some(&max),
            &[
                "deploy",
                "signed-api",
                "--model",
                "signed:1",
                "--require-signed",
            ],
        )
        .ok();
    let unsigned = server
        .hangar_as(
            Some(&max),
            &[
                "deploy",
                "signed-api",
                "--model",
                "signed:2",
                "--require-signed",
            ],
        )
        .error_line();
    assert!(
        unsigned.contains("signed:2 carries no valid signature by a trusted key"),
        "{unsigned}"
    );
}

#[test]
fn the_audit_log_records_changes_and_revoked_tokens_stop_working() {
    let server = Server::start();
    server.hangar(&["team", "create", "credit"]).ok();
    let ada = user_with_token(&server, "ada", "credit", "data-scientist");

    let mine = server
        .hangar_as(
            Some(&ada),
            &["token", "create", "--name", "ci", "--expires", "30d"],
        )
        .ok();
    assert!(
        mine.stdout.contains("This token will not be shown again"),
        "{mine:#?}"
    );
    let ci_token = mine
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("  hgr_"))
        .map(|rest| format!("hgr_{rest}"))
        .unwrap();
    let listed = server.hangar_as(Some(&ada), &["token", "list"]).ok();
    let rows = table_rows(&listed.stdout);
    assert_eq!(
        rows[0],
        [
            "ID",
            "NAME",
            "USER",
            "CREATED",
            "EXPIRES",
            "LAST USED",
            "REVOKED"
        ]
    );
    let ci = rows.iter().find(|r| r[1] == "ci").expect("the ci token");
    server.hangar_as(Some(&ci_token), &["whoami"]).ok();
    let revoked = server
        .hangar_as(Some(&ada), &["token", "revoke", &ci[0]])
        .ok();
    assert!(revoked.stdout.starts_with("revoked token "), "{revoked:#?}");
    let refused = server.hangar_as(Some(&ci_token), &["whoami"]).error_line();
    assert!(
        refused.contains("(HTTP 401)") && refused.contains("hangar login"),
        "{refused}"
    );

    // Every change is in the audit log, with who made it.
    let entries = server
        .hangar(&["audit", "list", "--output", "json"])
        .ok()
        .json();
    let entries = entries["entries"].as_array().unwrap();
    let by = |actor: &str, object: &str| {
        entries
            .iter()
            .any(|e| e["actor"] == actor && e["object"].as_str().unwrap_or("").starts_with(object))
    };
    assert!(by(ADMIN, "teams"), "{entries:#?}");
    assert!(by(ADMIN, "users"), "{entries:#?}");
    assert!(by("ada", "tokens"), "{entries:#?}");
    let table = server.hangar(&["audit", "list", "--actor", "ada"]).ok();
    let rows = table_rows(&table.stdout);
    assert_eq!(
        rows[0],
        ["SEQ", "AT", "ACTOR", "ADDRESS", "ACTION", "OBJECT", "OUTCOME"]
    );
    assert!(rows[1..].iter().all(|r| r[2] == "ada"), "{table:#?}");
    // Only administrators and approvers read it.
    let denied = server
        .hangar_as(Some(&ada), &["audit", "list"])
        .error_line();
    assert!(denied.contains("(HTTP 403)"), "{denied}");

    let verified = server.hangar(&["audit", "verify"]).ok();
    assert!(
        verified.stdout.starts_with("audit log ok: ")
            && verified.stdout.ends_with(" entries, hash chain intact\n"),
        "{verified:#?}"
    );
    let json = server
        .hangar(&["audit", "verify", "--output", "json"])
        .ok()
        .json();
    assert_eq!(json["ok"], true);
}

#[test]
fn governance_commands_check_their_arguments_and_document_themselves() {
    for args in [
        &["login"][..],
        &["user", "create", "ada", "--team", "credit"],
        &[
            "user", "create", "ada", "--role", "cook", "--team", "credit",
        ],
        &["approve", "credit@production", "--comment", "x"],
        &["approve", "credit:1"],
        &["consumer-key", "create", "--purpose", "x"],
        &["model", "card", "credit", "--risk-tier", "extreme"],
        &[
            "deploy",
            "d",
            "--model",
            "m:1",
            "--require-signed",
            "--no-require-signed",
        ],
        &["audit", "list", "--limit", "0"],
    ] {
        let run = hangar(None, args);
        if args == ["login"] {
            // Valid syntax, nothing to log in with: one error line.
            let err = run.error_line();
            assert!(err.contains("--user USER --password-stdin"), "{err}");
            continue;
        }
        assert_eq!(run.code, Some(2), "{args:?}: {run:#?}");
        assert!(run.stdout.is_empty(), "{args:?}: {run:#?}");
    }
    for args in [
        &["login", "--help"][..],
        &["logout", "--help"],
        &["whoami", "--help"],
        &["team", "create", "--help"],
        &["user", "create", "--help"],
        &["user", "grant", "--help"],
        &["model", "card", "--help"],
        &["token", "create", "--help"],
        &["token", "revoke", "--help"],
        &["consumer-key", "create", "--help"],
        &["approve", "--help"],
        &["reject", "--help"],
        &["approvals", "--help"],
        &["audit", "list", "--help"],
        &["audit", "verify", "--help"],
        &["keys", "generate", "--help"],
        &["keys", "trust", "--help"],
    ] {
        let help = hangar(None, args).ok();
        assert!(help.stdout.contains("Example"), "{args:?}: {help:#?}");
        assert!(
            help.stdout.contains("--token <TOKEN>"),
            "{args:?}: {help:#?}"
        );
    }
}

/// One plain HTTP/1.1 `GET` with extra header lines: the status and the
/// whole answer as text.
fn get(addr: std::net::SocketAddr, path: &str, headers: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    (text[9..12].parse().unwrap(), text)
}

#[test]
fn a_metrics_token_from_the_cli_scrapes_metrics_and_cookies_are_secure_behind_https() {
    let server = Server::start_with(&["--public-url", "https://hangar.example.com"]);
    let created = server
        .hangar(&[
            "token",
            "create",
            "--metrics",
            "--name",
            "prometheus",
            "--output",
            "json",
        ])
        .ok()
        .json();
    assert_eq!(created["kind"], "metrics", "{created}");
    let token = created["token"].as_str().unwrap();
    let bearer = format!("Authorization: Bearer {token}\r\n");
    let (status, text) = get(server.addr, "/metrics", &bearer);
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("hangar_loaded_models"), "{text}");
    let (status, _) = get(server.addr, "/api/v1/models", &bearer);
    assert_eq!(status, 403, "a metrics token reads /metrics only");
    // A person who is no administrator does not read them.
    let viewer = user_with_token(&server, "vic", "default", "viewer");
    let (status, _) = get(
        server.addr,
        "/metrics",
        &format!("Authorization: Bearer {viewer}\r\n"),
    );
    assert_eq!(status, 403);
    let listed = server.hangar(&["token", "list", "--metrics"]).ok();
    assert!(listed.stdout.contains("prometheus"), "{listed:#?}");
    let err = server
        .hangar_as(Some(&viewer), &["token", "create", "--metrics"])
        .error_line();
    assert!(err.contains("administrator"), "{err}");

    // --public-url https://…: the dashboard's cookies are Secure.
    let (status, text) = get(server.addr, "/login", "");
    assert_eq!(status, 200);
    let cookie = text
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(cookie.contains("; Secure"), "{cookie}");
}
