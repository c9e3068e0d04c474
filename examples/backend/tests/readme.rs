//! The README's metric table is the binary's metric catalog.

use backend::reference::metrics_table;
use backend_plugin_api::Scheduler;
use backstage_telemetry::{Config, RootMetricsService};

#[test]
fn the_readme_metric_table_is_generated_from_the_catalog() {
    let _plugins = backend::plugins(
        &Config::default(),
        &RootMetricsService::from_config(&Config::default()),
        &Scheduler::default(),
        &backend::Deployment::all("http://127.0.0.1:7007"),
    )
    .expect("the default settings");
    let catalog = backstage_telemetry::catalog();
    // one exported name is one instrument, across every crate of the backend
    backstage_telemetry::catalog::assert_consistent();
    let generated = metrics_table(&catalog);
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md");
    let readme = std::fs::read_to_string(path).expect("README.md");
    let start = readme
        .find("<!-- metrics-table -->\n")
        .expect("start marker")
        + "<!-- metrics-table -->\n".len();
    let end = readme
        .find("<!-- end metrics-table -->")
        .expect("end marker");
    if readme[start..end] != generated && std::env::var_os("UPDATE_README").is_some() {
        let updated = format!("{}{generated}{}", &readme[..start], &readme[end..]);
        std::fs::write(path, updated).expect("write README.md");
        return;
    }
    assert_eq!(
        &readme[start..end],
        generated,
        "README.md is out of date: run `UPDATE_README=1 cargo test -p backend --test readme`"
    );
    // every metric of Backstage's list is there under its new name
    assert_eq!(
        generated
            .lines()
            .filter(|l| l.starts_with("| `catalog")
                || l.starts_with("| `scaffolder")
                || l.starts_with("| `backend_tasks"))
            .count(),
        17
    );
}
