//! The private PostgreSQL: made, reachable, stopped (unreachable), started
//! again with its data, and gone with its directory when dropped.

use hangar_testkit::PrivatePostgres;
use sqlx::Connection;

async fn connect(url: &str) -> Result<sqlx::PgConnection, sqlx::Error> {
    sqlx::PgConnection::connect(url).await
}

#[tokio::test]
async fn a_private_server_stops_and_starts_again_with_its_data() {
    let mut pg = PrivatePostgres::start();
    let url = pg.url();
    let mut conn = connect(&url)
        .await
        .expect("the new server accepts connections");
    sqlx::raw_sql("CREATE TABLE kept (n INT); INSERT INTO kept VALUES (7)")
        .execute(&mut conn)
        .await
        .unwrap();
    drop(conn);

    pg.stop();
    let refused = connect(&url)
        .await
        .expect_err("a stopped server is unreachable");
    assert!(
        matches!(refused, sqlx::Error::Io(_)),
        "refused as a network error: {refused:?}"
    );

    pg.start_again();
    let mut conn = connect(&url).await.expect("reachable again");
    let (n,): (i32,) = sqlx::query_as("SELECT n FROM kept")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(n, 7, "the data survives the outage");
    drop(conn);

    let port = pg.port();
    drop(pg);
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "nothing listens once it is dropped"
    );
}
