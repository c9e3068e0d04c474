#![deny(warnings)]

use std::future::Future;

#[backstage_telemetry::backstage_plugin(id = "catalog")]
mod catalog {
    use backstage_telemetry::span;
    use std::future::Future;
    use std::pin::Pin;

    #[span]
    pub fn fetch(id: u32) -> impl Future<Output = Result<u32, std::io::Error>> + Send {
        let doubled = id * 2;
        async move { Ok(doubled) }
    }

    #[span]
    pub fn boxed(id: u32) -> Pin<Box<dyn Future<Output = u32> + Send>> {
        Box::pin(async move { id + 1 })
    }
}

fn assert_send<F: Future + Send>(future: F) -> F {
    future
}

fn main() {
    assert_eq!(
        futures::executor::block_on(assert_send(catalog::fetch(21))).unwrap(),
        42
    );
    assert_eq!(futures::executor::block_on(catalog::boxed(1)), 2);
}
