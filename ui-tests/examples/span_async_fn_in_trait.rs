#![deny(warnings)]

#[backstage_telemetry::backstage_plugin(id = "catalog")]
mod catalog {
    use backstage_telemetry::span;

    pub trait Repository {
        async fn find(&self, id: u32) -> Option<String>;

        #[span]
        async fn exists(&self, id: u32) -> bool {
            self.find(id).await.is_some()
        }

        #[span]
        fn name(&self) -> &'static str {
            "repository"
        }
    }

    pub struct Memory;

    impl Repository for Memory {
        #[span]
        async fn find(&self, id: u32) -> Option<String> {
            (id == 1).then(|| "one".to_owned())
        }
    }
}

fn main() {
    use catalog::Repository as _;
    assert!(futures::executor::block_on(catalog::Memory.exists(1)));
    assert_eq!(catalog::Memory.name(), "repository");
}
