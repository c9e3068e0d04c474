#![deny(warnings)]

use std::fmt::Display;

#[backstage_telemetry::backstage_plugin(id = "catalog")]
mod catalog {
    use backstage_telemetry::span;
    use std::fmt::Display;

    #[span]
    pub fn describe<T: Display>(value: T) -> String {
        value.to_string()
    }

    #[span]
    pub fn describe_all<'a, I>(values: I) -> Vec<String>
    where
        I: IntoIterator<Item = &'a dyn Display>,
    {
        values.into_iter().map(ToString::to_string).collect()
    }

    #[span]
    pub fn squares(limit: u32) -> impl Iterator<Item = u32> {
        (1..=limit).map(|n| n * n)
    }

    #[span]
    pub fn boxed(arg: impl Display + 'static) -> Box<dyn Display> {
        Box::new(arg)
    }

    #[span]
    pub fn first<const N: usize>(values: [u8; N]) -> Option<u8> {
        values.first().copied()
    }
}

fn main() {
    assert_eq!(catalog::describe(42), "42");
    let values: [&dyn Display; 2] = [&1, &"two"];
    assert_eq!(catalog::describe_all(values), ["1", "two"]);
    assert_eq!(catalog::squares(3).collect::<Vec<_>>(), [1, 4, 9]);
    assert_eq!(catalog::boxed(7).to_string(), "7");
    assert_eq!(catalog::first([4, 5]), Some(4));
}
