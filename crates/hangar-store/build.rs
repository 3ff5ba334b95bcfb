//! `sqlx::migrate!` embeds the migration files at compile time, but on
//! stable Rust it cannot tell cargo to watch them: without this, a new
//! `.sql` file is not embedded until some source file of the crate changes.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
