//! `hangar alias set`: point a model's named aliases at versions.

use crate::cli::{AliasArgs, AliasCommand};
use crate::client::{AliasMove, Client};
use crate::output::{self, OutputFormat};

pub async fn run(args: AliasArgs) -> anyhow::Result<()> {
    let client = Client::connect(&args.client)?;
    match args.command {
        AliasCommand::Set(set) => {
            let moved = client
                .set_alias(&set.model, &set.alias, set.version)
                .await?;
            output::print(&match args.client.output {
                OutputFormat::Json => output::json(&moved.raw),
                OutputFormat::Table => describe_move(&moved.body),
            })
        }
    }
}

/// `production: 2 -> 3`, with `(none)` for an alias that did not exist before.
fn describe_move(m: &AliasMove) -> String {
    let side = |v: Option<u32>| v.map_or_else(|| "(none)".to_owned(), |v| v.to_string());
    format!(
        "{}: {} -> {}\n",
        m.alias,
        side(m.from_version),
        side(m.to_version)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(from: Option<u32>, to: Option<u32>, expected: &str) {
        let m = AliasMove {
            alias: "production".into(),
            from_version: from,
            to_version: to,
        };
        assert_eq!(describe_move(&m), expected);
    }

    #[test]
    fn moves_read_from_old_to_new() {
        check(Some(2), Some(3), "production: 2 -> 3\n");
        check(None, Some(1), "production: (none) -> 1\n");
        check(Some(3), Some(3), "production: 3 -> 3\n");
    }
}
