#![deny(warnings)]

#[backstage_telemetry::backstage_plugin(id = "catalog")]
mod catalog {
    use backstage_telemetry::span;

    #[span]
    pub fn plain() {}

    #[span(name = "refresh-entity", kind = consumer)]
    pub fn refresh(entity_ref: &str) -> usize {
        entity_ref.len()
    }

    #[span(kind = server, attributes(catalog.entity.kind = kind, "catalog.batch" = i64::from(size)))]
    pub fn batch(kind: &'static str, size: u32) -> Option<u32> {
        Some(size)
    }

    #[span(kind = internal)]
    pub fn early_return(value: u8) -> u8 {
        if value > 3 {
            return 3;
        }
        value
    }

    #[span(kind = producer,)]
    pub fn with_trailing_comma() {}

    #[span(name = "run-queued", link = queued_by)]
    pub fn linked(queued_by: Option<backstage_telemetry::SpanContext>) -> bool {
        true
    }

    #[span(kind = client)]
    pub unsafe fn unchecked(value: *const u8) -> u8 {
        unsafe { *value }
    }
}

fn main() {
    catalog::plain();
    assert_eq!(catalog::refresh("component:default/a"), 19);
    assert_eq!(catalog::batch("API", 2), Some(2));
    assert_eq!(catalog::early_return(9), 3);
    catalog::with_trailing_comma();
    assert!(catalog::linked(None));
    let byte = 7u8;
    assert_eq!(unsafe { catalog::unchecked(std::ptr::from_ref(&byte)) }, 7);
}
