//! End to end: `hangar store copy` moves what a real embedded server wrote
//! (a pushed model, an alias, a deployment, an alert rule, the audit
//! entries) into a fresh PostgreSQL database and an artifact directory, says
//! what it copied, and refuses to copy into the same database twice.

mod common;

use common::{hangar, reference, Server};

#[test]
fn store_copy_moves_an_embedded_install_and_refuses_a_second_time() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let pg = rt.block_on(hangar_testkit::TestDatabase::create());

    let mut server = Server::start();
    let model = reference("models/gbdt/model.onnx");
    let pushed = server
        .hangar(&[
            "model",
            "push",
            model.to_str().unwrap(),
            "--name",
            "credit",
            "--output",
            "json",
        ])
        .ok()
        .json();
    let digest = pushed["digest"].as_str().unwrap().to_string();
    server
        .hangar(&["alias", "set", "credit", "production", "1"])
        .ok();
    server
        .hangar(&["deploy", "credit-api", "--model", "credit@production"])
        .ok();
    server
        .hangar(&[
            "alerts",
            "rules",
            "add",
            "errors",
            "--metric",
            "traffic.error_rate",
            "--comparison",
            ">",
            "--threshold",
            "0.05",
        ])
        .ok();
    // As after a crash: the copy reads the file as SQLite left it.
    server.kill();

    let data = server.data.to_str().unwrap().to_string();
    let artifacts = server.dir.path().join("copied-artifacts");
    let copy = |to_artifacts: &str| {
        hangar(
            None,
            &[
                "store",
                "copy",
                "--data-dir",
                &data,
                "--to-database",
                pg.url(),
                "--to-artifacts",
                to_artifacts,
            ],
        )
    };
    let done = copy(&format!("file://{}", artifacts.display())).ok();
    let lines: Vec<&str> = done.stdout.lines().collect();
    assert!(
        lines[0].starts_with("copied 1 artifact(s) (")
            && lines[0].ends_with(&format!("{}", artifacts.display())),
        "{done:#?}"
    );
    assert!(
        lines[1].starts_with("copied ")
            && lines[1].contains(" row(s) of ")
            && lines[1].ends_with(pg.url()),
        "{done:#?}"
    );
    assert!(done.stdout.contains("hangar audit verify"), "{done:#?}");
    let hex = digest.strip_prefix("sha256:").unwrap();
    assert!(artifacts.join("sha256").join(&hex[..2]).join(hex).is_file());

    // Again: the database holds data now; nothing is written.
    let err = copy(artifacts.to_str().unwrap()).error_line();
    assert!(
        err.contains("the target database is not empty: table '"),
        "{err}"
    );

    // Only PostgreSQL is a target: a usage error, before anything is read.
    let usage = hangar(
        None,
        &[
            "store",
            "copy",
            "--data-dir",
            &data,
            "--to-database",
            "sqlite:///tmp/x.db",
            "--to-artifacts",
            artifacts.to_str().unwrap(),
        ],
    );
    assert_eq!(usage.code, Some(2), "{usage:#?}");
    assert!(usage.stderr.contains("postgres://"), "{usage:#?}");
    rt.block_on(async move { drop(pg) });
}
