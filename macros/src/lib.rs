//! Procedural macros of `backstage-telemetry`: `#[backstage_plugin]`, `#[backstage_core]`,
//! `#[span]` and `metric!`. Use them through the `backstage-telemetry` crate, whose
//! documentation has the examples.
//!
//! Each macro goes parse → validate → expand over a small typed model: options are written
//! in one grammar (`args`), checked with the naming rules shared with the runtime
//! (`backstage-telemetry-naming`), every problem reported at once; then expanded. On any
//! error a macro emits the errors *and* the user's item (unchanged, or with placeholders
//! where a wrong value stood), so the code's other diagnostics still show and editors keep
//! seeing it. This file only holds the entry points.

use proc_macro::TokenStream;

mod args;
mod catalog;
mod error_type;
mod metric;
mod module;
mod scope;
mod span;
mod words;

use backstage_telemetry_naming::ScopeKind;

/// Sets the plugin scope of everything inside an inline module: the `#[span]`s and
/// `metric!`s in it, nested modules and function bodies included, belong to plugin `id`
/// (the nearest scope wins; `plugin = "..."` on one `#[span]` or `metric!` overrides).
///
/// The module also gets `METRICS`, the list of the metrics it declares, and
/// `register_observables()`, which registers the callbacks of the observable instruments
/// declared at its top (`init` calls it for every module; calling it again is harmless).
///
/// ```
/// use backstage_telemetry::backstage_plugin;
///
/// #[backstage_plugin(id = "catalog")]
/// pub mod catalog {
///     use backstage_telemetry::{KeyValue, metric, span};
///
///     metric! {
///         /// Entities processed by the catalog.
///         pub static ENTITIES_PROCESSED: Counter<u64> = "entities.processed", unit = "{entity}";
///     }
///
///     #[span]
///     pub fn process(kind: &'static str) -> Result<(), std::io::Error> {
///         ENTITIES_PROCESSED.add(1, &[KeyValue::new("kind", kind)]);
///         Ok(())
///     }
/// }
///
/// catalog::process("Component").unwrap();
/// assert_eq!(catalog::METRICS[0].name, "backstage.plugin.catalog.entities.processed");
/// assert_eq!(catalog::METRICS[0].description, "Entities processed by the catalog.");
/// ```
///
/// A plugin that spans several files sets its scope once for the whole crate, in
/// Cargo.toml (the counterpart of `backstage.pluginId` in a Backstage package.json); then
/// `#[span]` and `metric!` need no enclosing module, and `#[backstage_plugin]` without `id`
/// uses it:
///
/// ```toml
/// [package.metadata.backstage]
/// pluginId = "catalog"      # or coreServiceId = "scheduler"
/// ```
#[proc_macro_attribute]
pub fn backstage_plugin(args: TokenStream, item: TokenStream) -> TokenStream {
    module::expand(ScopeKind::Plugin, args.into(), item.into()).into()
}

/// Sets the core service scope of everything inside an inline module, like
/// [`macro@backstage_plugin`]: metrics are named `backstage.core.{id}.…` and come from the root
/// meter (`backend.metrics.serviceName`); spans come from tracer `backstage-core-{id}` and
/// carry `backstage.core.id`.
///
/// ```
/// #[backstage_telemetry::backstage_core(id = "database")]
/// mod database {
///     backstage_telemetry::metric! {
///         /// Open connections.
///         pub static CONNECTIONS: UpDownCounter<i64> = "connections.active", unit = "{connection}";
///     }
/// }
///
/// database::CONNECTIONS.add(1, &[]);
/// assert_eq!(database::CONNECTIONS.name(), "backstage.core.database.connections.active");
/// ```
#[proc_macro_attribute]
pub fn backstage_core(args: TokenStream, item: TokenStream) -> TokenStream {
    module::expand(ScopeKind::Core, args.into(), item.into()).into()
}

/// Runs a function in a span of its plugin's tracer, active for the body (across
/// `.await`s), ended exactly once, carrying `backstage.plugin.id`.
///
/// An `Err` return value, detected by type whatever alias names it (`io::Result`,
/// `anyhow::Result`, …), is recorded: exception event (`exception.type`,
/// `exception.message`), `error.type` (the error's type name, or what its
/// [`ErrorType`](../backstage_telemetry/trait.ErrorType.html) impl says), status ERROR with
/// the message; the value is returned unchanged. A panic is recorded, then continues. An
/// `async fn` whose future is dropped early ends its span marked
/// `backstage.span.cancelled = true`. Arguments are never recorded unless named in
/// `attributes(...)`.
///
/// Options, all optional: `name = "..."` (default: the function's name), `kind = server`
/// (`internal` by default, `server`, `client`, `producer`, `consumer`),
/// `attributes(key.path = expr, ...)`, `credentials = expr`, `request = expr` (the principal,
/// see `SpanOptions`), `link = expr` (a `SpanContext` or `Option<SpanContext>` to link to,
/// such as the request that queued the work), `plugin = "id"` (overrides the scope).
///
/// Works on free functions, methods, generic functions, `impl Trait` returns, `async fn`
/// (also in traits and under `#[async_trait]`), and functions returning a future from an
/// `async` block; not on `const fn`.
///
/// On an `impl` block (inherent or trait impl) it traces every method with a body as
/// `#[span]` with the block's options on that method would: a method's own `#[span(..)]`
/// replaces the block's options for it, `const fn` methods and the other items are left
/// alone, and `name` is not accepted on a block (every method would get it).
///
/// ```
/// #[backstage_telemetry::backstage_plugin(id = "catalog")]
/// mod catalog {
///     pub struct Store(Vec<String>);
///
///     #[backstage_telemetry::span(metrics)]
///     impl Store {
///         pub fn add(&mut self, entity: &str) {                 // span "add"
///             self.0.push(entity.to_owned());
///         }
///
///         #[backstage_telemetry::span(name = "count-entities")]  // its own options
///         pub fn count(&self) -> usize {
///             self.0.len()
///         }
///     }
/// }
/// ```
///
/// ```
/// #[backstage_telemetry::backstage_plugin(id = "todos")]
/// mod todos {
///     use backstage_telemetry::{KeyValue, current_span, span};
///
///     #[span(name = "create-todo", kind = server, attributes(todo.category = category))]
///     pub async fn create(title: String, category: &'static str) -> std::io::Result<usize> {
///         current_span().set_attribute(KeyValue::new("todo.title_length", title.len() as i64));
///         Ok(title.len())
///     }
/// }
///
/// let kit = backstage_telemetry::testing::install();
/// let capture = kit.capture();
/// let created = futures::executor::block_on(capture.run_async(todos::create("docs".into(), "personal")));
/// assert_eq!(created.unwrap(), 4);
/// let span = capture.span("create-todo");
/// assert_eq!(span.span_kind, backstage_telemetry::SpanKind::Server);
/// ```
#[proc_macro_attribute]
pub fn span(args: TokenStream, item: TokenStream) -> TokenStream {
    let (args, item) = (args.into(), item.into());
    if span::is_impl(&item) {
        return span::expand_impl(args, item).into();
    }
    let (errors, item, _) = span::expand(args, item, None);
    quote::quote!(#errors #item).into()
}

/// Declares or creates an instrument whose name is checked and prefixed at compile time
/// (`"entities.processed"` in plugin `catalog` is exported as
/// `backstage.plugin.catalog.entities.processed`).
///
/// Kinds and value types: `Counter<u64|f64>`, `UpDownCounter<i64|f64>`,
/// `Histogram<u64|f64>`, `Gauge<u64|i64|f64>`, `ObservableCounter<u64|f64>`,
/// `ObservableUpDownCounter<i64|f64>`, `ObservableGauge<u64|i64|f64>`. Options: `unit`,
/// `description` (the item form also takes the doc comment), `boundaries = [..]`
/// (histograms), `callback = |observer| ..` (observable kinds, required), `plugin = "id"`.
///
/// The item form declares `static`s; the expression form creates the instrument once at
/// its call site and evaluates to a `&'static` reference. Either binds to the global meter
/// provider on first use (again whenever a new one is installed), so measuring is then the
/// OpenTelemetry call alone.
///
/// ```
/// #[backstage_telemetry::backstage_plugin(id = "scaffolder")]
/// mod scaffolder {
///     use backstage_telemetry::{KeyValue, metric};
///
///     metric! {
///         /// Duration of scaffolder task steps.
///         pub static STEP_DURATION: Histogram<f64> = "task.step.duration", unit = "s",
///             boundaries = [0.1, 1.0, 10.0, 60.0];
///         /// Tasks waiting to run.
///         pub static QUEUED: ObservableGauge<u64> = "tasks.queued", unit = "{task}",
///             callback = |observer| observer.observe(3, &[]);
///     }
///
///     pub fn finish_step(step: &'static str, seconds: f64) {
///         STEP_DURATION.record(seconds, &[KeyValue::new("step", step)]);
///         metric!(Counter<u64>, "task.steps.finished").add(1, &[KeyValue::new("step", step)]);
///     }
/// }
///
/// scaffolder::finish_step("fetch", 0.4);
/// scaffolder::register_observables();
/// assert_eq!(scaffolder::METRICS.len(), 3);
/// ```
#[proc_macro]
pub fn metric(input: TokenStream) -> TokenStream {
    metric::expand(input.into()).into()
}

/// Registers an [`ErrorType`] impl, so that spans started through `TracingService` record
/// the same `error.type` for the error as `#[span]` functions do. Every `ErrorType` impl
/// carries it (without, the impl does not compile); a generic impl is refused. An
/// `ErrorType` is `Display` (its message).
///
/// ```
/// use std::borrow::Cow;
///
/// #[derive(Debug)]
/// pub struct NotFound;
///
/// impl std::fmt::Display for NotFound {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         f.write_str("not found")
///     }
/// }
///
/// #[backstage_telemetry::error_type]
/// impl backstage_telemetry::ErrorType for NotFound {
///     fn error_type(&self) -> Cow<'static, str> {
///         "not_found".into()
///     }
/// }
/// ```
///
/// [`ErrorType`]: https://docs.rs/backstage-telemetry/latest/backstage_telemetry/trait.ErrorType.html
#[proc_macro_attribute]
pub fn error_type(args: TokenStream, item: TokenStream) -> TokenStream {
    error_type::expand(args.into(), item.into()).into()
}
