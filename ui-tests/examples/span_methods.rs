#![deny(warnings)]

#[backstage_telemetry::backstage_plugin(id = "catalog")]
mod catalog {
    use backstage_telemetry::span;

    #[derive(Default)]
    pub struct Store {
        entities: Vec<String>,
    }

    impl Store {
        #[span]
        pub fn new() -> Self {
            Self::default()
        }

        #[span]
        pub fn add(&mut self, entity: String) -> &mut Self {
            self.entities.push(entity);
            self
        }

        #[span]
        pub fn names(&self) -> impl Iterator<Item = &str> + '_ {
            self.entities.iter().map(String::as_str)
        }

        #[span]
        pub fn into_inner(self) -> Vec<String> {
            self.entities
        }

        #[span]
        pub async fn count(&self) -> usize {
            self.entities.len()
        }
    }
}

fn main() {
    let mut store = catalog::Store::new();
    store.add("a".into()).add("b".into());
    assert_eq!(store.names().collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(futures::executor::block_on(store.count()), 2);
    assert_eq!(store.into_inner().len(), 2);
}
