//! `hangar deploy`: create a deployment or move it to another model version.

use crate::cli::DeployArgs;
use crate::client::{Client, Deployment};
use crate::output::{self, OutputFormat};

pub async fn run(args: DeployArgs) -> anyhow::Result<()> {
    let client = Client::new(&args.client.server)?;
    let deployed = client.deploy(&args.name, &args.model.to_string()).await?;
    output::print(&match args.client.output {
        OutputFormat::Json => output::json(&deployed.raw),
        OutputFormat::Table => {
            describe(&deployed.body, &client.absolute(&endpoint(&deployed.body)))
        }
    })
}

/// The server names the endpoint; older servers may not, and the route is fixed.
fn endpoint(d: &Deployment) -> String {
    if d.endpoint.is_empty() {
        format!("/v2/models/{}/infer", d.name)
    } else {
        d.endpoint.clone()
    }
}

fn describe(d: &Deployment, url: &str) -> String {
    let serving = match d.version {
        Some(v) => format!("{} version {v}", d.model),
        None => "-".to_owned(),
    };
    output::card(&[
        ("deployment", d.name.clone()),
        ("target", d.target.clone()),
        ("serving", serving),
        ("ready", if d.ready { "yes" } else { "no" }.to_owned()),
        ("endpoint", format!("POST {url}")),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_shows_target_serving_version_and_endpoint() {
        let d: Deployment = serde_json::from_value(serde_json::json!({
            "name": "credit-api", "model": "credit", "target": "credit@production", "version": 3,
            "ready": true, "endpoint": "/v2/models/credit-api/infer",
            "created_at": "2025-03-14T09:26:53Z", "updated_at": "2025-03-14T09:26:53Z", "updated_by": "ana",
        }))
        .unwrap();
        assert_eq!(
            describe(&d, "http://127.0.0.1:8080/v2/models/credit-api/infer"),
            "deployment:  credit-api\n\
             target:      credit@production\n\
             serving:     credit version 3\n\
             ready:       yes\n\
             endpoint:    POST http://127.0.0.1:8080/v2/models/credit-api/infer\n"
        );
        assert_eq!(endpoint(&d), "/v2/models/credit-api/infer");
    }
}
