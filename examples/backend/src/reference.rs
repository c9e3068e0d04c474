//! The reference table of the metrics this backend exports, next to Backstage's names for
//! them: rendered from the binary's metric catalog (`backstage_telemetry::catalog()`:
//! every `metric!` of every plugin crate and of the scheduler, the instruments the plugins
//! build at run time, and each plugin's span-metrics histogram). README.md holds it;
//! `tests/readme.rs` fails when it is out of date.

use backstage_telemetry::catalog::Catalog;

/// Backstage's metric names (from its OpenTelemetry set-up guide) and what each is here.
const UPSTREAM: &[(&str, &str)] = &[
    (
        "catalog_entities_count",
        "backstage.plugin.catalog.entities.count",
    ),
    (
        "catalog_registered_locations_count",
        "backstage.plugin.catalog.registered_locations.count",
    ),
    (
        "catalog_relations_count",
        "backstage.plugin.catalog.relations.count",
    ),
    (
        "catalog.processed.entities.count",
        "backstage.plugin.catalog.processed.entities.count",
    ),
    (
        "catalog.processing.duration",
        "backstage.plugin.catalog.processing.duration",
    ),
    (
        "catalog.processors.duration",
        "backstage.plugin.catalog.processors.duration",
    ),
    (
        "catalog.processing.queue.delay",
        "backstage.plugin.catalog.processing.queue.delay",
    ),
    (
        "catalog.stitched.entities.count",
        "backstage.plugin.catalog.stitched.entities.count",
    ),
    (
        "catalog.stitching.duration",
        "backstage.plugin.catalog.stitching.duration",
    ),
    (
        "catalog.stitching.queue.length",
        "backstage.plugin.catalog.stitching.queue.length",
    ),
    (
        "catalog.stitching.queue.delay",
        "backstage.plugin.catalog.stitching.queue.delay",
    ),
    (
        "scaffolder.task.count",
        "backstage.plugin.scaffolder.task.count",
    ),
    (
        "scaffolder.task.duration",
        "backstage.plugin.scaffolder.task.duration",
    ),
    (
        "scaffolder.step.count",
        "backstage.plugin.scaffolder.step.count",
    ),
    (
        "scaffolder.step.duration",
        "backstage.plugin.scaffolder.step.duration",
    ),
    (
        "backend_tasks.task.runs.count",
        "backstage.core.scheduler.task.runs.count",
    ),
    (
        "backend_tasks.task.runs.duration",
        "backstage.core.scheduler.task.runs.duration",
    ),
];

/// The table, as README.md shows it: the metrics of `catalog` (made after the plugins were,
/// so that their run-time instruments are in it).
pub fn metrics_table(catalog: &Catalog) -> String {
    let mut table = String::from(
        "| Backstage (Node.js) | backstage-telemetry | kind | unit | description |\n|---|---|---|---|---|\n",
    );
    for metric in catalog.metrics() {
        let upstream = UPSTREAM
            .iter()
            .find(|(_, new)| *new == metric.name.as_ref())
            .map_or("(new)", |(old, _)| old);
        table.push_str(&format!(
            "| `{upstream}` | `{}` | {}<{}> | `{}` | {} |\n",
            metric.name,
            metric.kind.name(),
            metric.value_type,
            metric.unit,
            metric.description
        ));
    }
    table
}
