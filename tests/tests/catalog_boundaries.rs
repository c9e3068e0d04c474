//! The metric catalog shows each histogram's boundaries as exported: an operator's view
//! first, then the declared ones (the app-config's for span metrics), then the SDK's
//! default. This binary installs its own configuration.

use backstage_telemetry::catalog::SDK_DEFAULT_BOUNDARIES;
use backstage_telemetry::{Config, catalog};

#[backstage_telemetry::backstage_plugin(id = "bounded")]
mod bounded {
    use backstage_telemetry::{metric, span};

    metric! {
        /// Declared with its boundaries.
        pub static DECLARED: Histogram<f64> = "work.duration", unit = "s", boundaries = [0.1, 1.0];
        /// Declared without.
        pub static PLAIN: Histogram<u64> = "work.size", unit = "By";
        /// Not a histogram.
        pub static COUNT: Counter<u64> = "work.count";
    }

    #[span(metrics)]
    pub fn work() {}
}

fn boundaries(name: &str) -> Option<Vec<f64>> {
    catalog()
        .metrics()
        .iter()
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("{name} in the catalog"))
        .boundaries
        .as_deref()
        .map(<[f64]>::to_vec)
}

#[test]
fn histograms_show_the_boundaries_they_are_exported_with() {
    // as declared, and the defaults
    assert_eq!(
        boundaries("backstage.plugin.bounded.work.duration"),
        Some(vec![0.1, 1.0])
    );
    assert_eq!(
        boundaries("backstage.plugin.bounded.work.size").as_deref(),
        Some(SDK_DEFAULT_BOUNDARIES)
    );
    assert_eq!(boundaries("backstage.plugin.bounded.work.count"), None);

    // views win; a view with bad boundaries does not count; the span metrics follow theirs
    let config = Config::from_yaml_str(
        "app-config.yaml",
        "backend:
  tracing:
    spanMetrics:
      boundaries: [0.5, 2]
  metrics:
    views:
      - instrument: backstage.plugin.bounded.work.duration
        boundaries: [5, 50]
      - instrument: backstage.plugin.bounded.*
        boundaries: [3, 2]
",
    )
    .unwrap();
    backstage_telemetry::set_config(config);
    assert_eq!(
        boundaries("backstage.plugin.bounded.work.duration"),
        Some(vec![5.0, 50.0])
    );
    assert_eq!(
        boundaries("backstage.plugin.bounded.work.size").as_deref(),
        Some(SDK_DEFAULT_BOUNDARIES)
    );
    assert_eq!(
        boundaries("backstage.plugin.bounded.span.duration"),
        Some(vec![0.5, 2.0])
    );
    let json = catalog().to_json();
    assert!(
        json.contains(r#""name":"backstage.plugin.bounded.work.duration","kind":"Histogram","value_type":"f64","unit":"s","description":"Declared with its boundaries.","scope":"plugin bounded","#)
            && json.contains(r#""boundaries":[5,50]}"#),
        "{json}"
    );
    // keep the site used
    bounded::work();
    let _ = (&bounded::DECLARED, &bounded::PLAIN, &bounded::COUNT);
}
