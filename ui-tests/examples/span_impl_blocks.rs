#![deny(warnings)]
//! `#[span]` on impl blocks: inherent and trait impls, inside a scoped module and outside
//! one (`plugin = ..`), with a method's own `#[span(..)]`, `const fn`, associated items and
//! methods whose signatures hold `=` (associated type bindings).

#[backstage_telemetry::backstage_plugin(id = "catalog")]
mod catalog {
    use backstage_telemetry::span;

    #[derive(Default)]
    pub struct Store {
        entities: Vec<String>,
    }

    pub trait Lookup {
        fn find(&self, name: &str) -> Option<usize>;
        fn count(&self) -> usize {
            0
        }
    }

    #[span(metrics, kind = server)]
    impl Store {
        pub const LIMIT: usize = 10;

        pub fn new() -> Self {
            Self::default()
        }

        #[span(name = "add-entity")]
        pub fn add(&mut self, entity: String) -> Result<&mut Self, std::io::Error> {
            self.entities.push(entity);
            Ok(self)
        }

        pub fn names(&self) -> impl Iterator<Item = &str> + '_ {
            self.entities.iter().map(String::as_str)
        }

        pub fn sum<I>(values: I) -> u32
        where
            I: IntoIterator<Item = u32>,
        {
            values.into_iter().sum()
        }

        pub const fn limit() -> usize {
            Self::LIMIT
        }

        pub async fn len(&self) -> usize {
            self.entities.len()
        }
    }

    #[span]
    impl Lookup for Store {
        fn find(&self, name: &str) -> Option<usize> {
            self.entities.iter().position(|e| e == name)
        }
    }
}

mod elsewhere {
    pub struct Counter(pub u32);

    #[backstage_telemetry::span(plugin = "counter")]
    impl Counter {
        pub fn next(&mut self) -> u32 {
            self.0 += 1;
            self.0
        }
    }
}

fn main() {
    use catalog::Lookup as _;
    let mut store = catalog::Store::new();
    store.add("a".into()).unwrap().add("b".into()).unwrap();
    assert_eq!(store.names().collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(catalog::Store::sum([1, 2]), 3);
    assert_eq!(catalog::Store::limit(), 10);
    assert_eq!(futures::executor::block_on(store.len()), 2);
    assert_eq!(store.find("b"), Some(1));
    assert_eq!(store.count(), 0);
    assert_eq!(elsewhere::Counter(0).next(), 1);
}
