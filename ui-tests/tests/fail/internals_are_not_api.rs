//! What only the macro expansions use is not reachable outside `__private`: a scope's meter
//! static and an observable instrument's cell are not part of the API.

use backstage_telemetry::metrics::{MeterScope, Observable};

fn main() {
    let _ = std::any::type_name::<MeterScope>();
    let _ = std::any::type_name::<Observable<u64>>();
}
