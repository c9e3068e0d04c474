//! The README's metric table is what the plugins' manifests say.

#[test]
fn the_readme_metric_table_is_generated_from_the_manifests() {
    let exe = std::env::current_exe().expect("test executable");
    let backend = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir")
        .join("examples")
        .join("backend");
    let output = std::process::Command::new(backend)
        .arg("--metrics-table")
        .output()
        .expect("run the backend");
    assert!(output.status.success());
    let generated = String::from_utf8(output.stdout).expect("utf-8");
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md");
    let start = readme
        .find("<!-- metrics-table -->\n")
        .expect("start marker")
        + "<!-- metrics-table -->\n".len();
    let end = readme
        .find("<!-- end metrics-table -->")
        .expect("end marker");
    assert_eq!(
        &readme[start..end],
        generated,
        "README.md is out of date: paste the output of `cargo run --example backend -- --metrics-table`"
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
