//! What only the macro expansions use is not reachable outside `__private`: a scope's meter
//! static, an observable instrument's cell and the boxed callback type are not part of the
//! API.

use backstage_telemetry::metrics::{Callback, MeterScope, Observable};

fn main() {
    let _ = std::any::type_name::<MeterScope>();
    let _ = std::any::type_name::<Observable<u64>>();
    let _ = std::any::type_name::<Callback<u64>>();
}
