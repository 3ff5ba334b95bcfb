//! `hangar serve`'s settings: layering, defaults and refusals.

use super::*;

fn args() -> ServeArgs {
    ServeArgs {
        ort_dylib: Some(std::env::current_exe().unwrap()),
        ..ServeArgs::default()
    }
}

#[test]
fn defaults_apply_when_nothing_is_given() {
    let s = settings(args()).unwrap();
    assert_eq!(s.addr, "127.0.0.1:8080".parse().unwrap());
    assert_eq!(s.server.data_dir, PathBuf::from("hangar-data"));
    assert_eq!(s.server.inference_queue, 1024);
}

#[test]
fn flags_beat_the_config_file_which_beats_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hangar.toml");
    std::fs::write(
        &file,
        "addr = \"127.0.0.1:9000\"\ndata_dir = \"/srv/h\"\ninference_queue = 7\n",
    )
    .unwrap();
    let mut a = args();
    a.config = Some(file);
    a.addr = Some("127.0.0.1:9001".into());
    let s = settings(a).unwrap();
    assert_eq!(s.addr.port(), 9001);
    assert_eq!(s.server.data_dir, PathBuf::from("/srv/h"));
    assert_eq!(s.server.inference_queue, 7);
}

#[test]
fn grpc_is_off_unless_an_address_is_given_by_file_or_flag() {
    assert_eq!(settings(args()).unwrap().grpc_addr, None);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hangar.toml");
    std::fs::write(&file, "grpc_addr = \"127.0.0.1:9100\"\n").unwrap();
    let mut a = args();
    a.config = Some(file.clone());
    assert_eq!(
        settings(a).unwrap().grpc_addr,
        Some("127.0.0.1:9100".parse().unwrap())
    );
    let mut a = args();
    a.config = Some(file);
    a.grpc_addr = Some("127.0.0.1:9101".into());
    assert_eq!(
        settings(a).unwrap().grpc_addr,
        Some("127.0.0.1:9101".parse().unwrap())
    );
}

#[test]
fn a_bad_or_clashing_grpc_address_is_refused() {
    let mut a = args();
    a.grpc_addr = Some("grpc-port".into());
    assert!(settings(a)
        .unwrap_err()
        .to_string()
        .contains("invalid --grpc-addr"));
    let mut a = args();
    a.grpc_addr = Some("127.0.0.1:8080".into());
    assert!(settings(a)
        .unwrap_err()
        .to_string()
        .contains("must differ from --addr"));
}

#[test]
fn a_public_url_is_an_http_or_https_url_from_flag_file_or_environment() {
    assert_eq!(settings(args()).unwrap().server.public_url, None);
    assert!(!settings(args()).unwrap().server.https());
    let mut a = args();
    a.public_url = Some("https://hangar.example.com/".into());
    let s = settings(a).unwrap();
    assert_eq!(
        s.server.public_url.as_deref(),
        Some("https://hangar.example.com")
    );
    assert!(s.server.https());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hangar.toml");
    std::fs::write(&file, "public_url = \"http://10.0.0.5:8080\"\n").unwrap();
    let mut a = args();
    a.config = Some(file);
    let s = settings(a).unwrap();
    assert_eq!(s.server.public_url.as_deref(), Some("http://10.0.0.5:8080"));
    assert!(!s.server.https());
    for bad in ["hangar.example.com", "ftp://x", "https://", "https:// x"] {
        let mut a = args();
        a.public_url = Some(bad.into());
        let msg = settings(a).unwrap_err().to_string();
        assert!(msg.contains("invalid --public-url"), "{bad}: {msg}");
    }
    // The environment variable is the flag's.
    use clap::CommandFactory;
    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        serve: ServeArgs,
    }
    let cmd = Cli::command();
    let flag = cmd
        .get_arguments()
        .find(|a| a.get_long() == Some("public-url"))
        .unwrap();
    assert_eq!(
        flag.get_env().and_then(|e| e.to_str()),
        Some("HANGAR_PUBLIC_URL")
    );
}

#[test]
fn the_storage_defaults_to_the_data_directory_and_is_named_by_flag_file_or_environment() {
    let s = settings(args()).unwrap();
    assert_eq!((s.server.database, s.server.artifacts), (None, None));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hangar.toml");
    std::fs::write(
        &file,
        "database = \"postgres://hangar@db:5432/hangar\"\nartifacts = \"/srv/artifacts\"\n",
    )
    .unwrap();
    let mut a = args();
    a.config = Some(file.clone());
    let s = settings(a).unwrap();
    assert_eq!(
        s.server.database.as_deref(),
        Some("postgres://hangar@db:5432/hangar")
    );
    assert_eq!(s.server.artifacts.as_deref(), Some("/srv/artifacts"));
    let mut a = args();
    a.config = Some(file);
    a.database = Some("sqlite:///srv/h/hangar.db".into());
    assert_eq!(
        settings(a).unwrap().server.database.as_deref(),
        Some("sqlite:///srv/h/hangar.db")
    );
    use clap::CommandFactory;
    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        serve: ServeArgs,
    }
    let cmd = Cli::command();
    for (flag, env) in [
        ("database", "HANGAR_DATABASE_URL"),
        ("artifacts", "HANGAR_ARTIFACTS"),
    ] {
        let arg = cmd
            .get_arguments()
            .find(|a| a.get_long() == Some(flag))
            .unwrap();
        assert_eq!(arg.get_env().and_then(|e| e.to_str()), Some(env), "{flag}");
    }
}

#[test]
fn help_never_shows_the_database_url_from_the_environment() {
    use clap::CommandFactory;
    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        serve: ServeArgs,
    }
    let flag = Cli::command()
        .get_arguments()
        .find(|a| a.get_long() == Some("database"))
        .cloned()
        .unwrap();
    assert!(flag.is_hide_env_values_set());
}

#[test]
fn an_unknown_database_is_refused_without_its_password() {
    let mut a = args();
    a.database = Some("mysql://root:hunter2@db/hangar".into());
    let msg = settings(a).unwrap_err().to_string();
    assert!(msg.contains("invalid --database"), "{msg}");
    assert!(msg.contains("root:***@db"), "{msg}");
    assert!(!msg.contains("hunter2"), "{msg}");
}

#[test]
fn the_start_up_line_names_the_storage_without_a_password() {
    let mut s = settings(args()).unwrap().server;
    assert_eq!(storage_line(&s), "data in hangar-data");
    s.database = Some("postgres://hangar:s3cret@db:5432/hangar".into());
    let line = storage_line(&s);
    assert_eq!(
        line,
        "metadata in postgres://hangar:***@db:5432/hangar, artifacts in hangar-data/artifacts"
    );
}

#[test]
fn bad_values_are_refused_with_a_clear_message() {
    let mut a = args();
    a.addr = Some("localhost".into());
    assert!(settings(a)
        .unwrap_err()
        .to_string()
        .contains("invalid --addr"));
    let mut a = args();
    a.ort_dylib = Some(PathBuf::from("/nonexistent/libonnxruntime.so"));
    let msg = settings(a).unwrap_err().to_string();
    assert!(
        msg.contains("make setup") && msg.contains("ORT_DYLIB_PATH"),
        "{msg}"
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, "colour = \"blue\"\n").unwrap();
    let mut a = args();
    a.config = Some(file);
    assert!(format!("{:#}", settings(a).unwrap_err()).contains("unknown field"));
}
