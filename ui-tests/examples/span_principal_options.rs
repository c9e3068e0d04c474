#![deny(warnings)]

use backstage_telemetry::BackstageCredentials;

#[backstage_telemetry::backstage_plugin(id = "scaffolder")]
mod scaffolder {
    use backstage_telemetry::{BackstageCredentials, span};

    #[span(credentials = credentials)]
    pub fn by_reference(credentials: &BackstageCredentials) -> bool {
        credentials.principal().end_user_id().is_some()
    }

    #[span(credentials = credentials)]
    pub fn by_value(credentials: BackstageCredentials) -> BackstageCredentials {
        credentials
    }

    #[span(request = request)]
    pub fn from_request(request: &http::Request<String>) -> usize {
        request.body().len()
    }

    #[span(request = parts)]
    pub fn from_parts(parts: http::request::Parts) -> http::Method {
        parts.method
    }

    #[span(credentials = credentials, request = request)]
    pub fn both(credentials: &BackstageCredentials, request: http::Request<()>) -> bool {
        drop(request);
        credentials.principal().end_user_id().is_none()
    }
}

fn main() {
    let alice = BackstageCredentials::user("user:default/alice");
    assert!(scaffolder::by_reference(&alice));
    assert_eq!(scaffolder::by_value(alice.clone()), alice);
    assert_eq!(
        scaffolder::from_request(&http::Request::new("body".to_owned())),
        4
    );
    let (parts, ()) = http::Request::new(()).into_parts();
    assert_eq!(scaffolder::from_parts(parts), http::Method::GET);
    assert!(scaffolder::both(
        &BackstageCredentials::none(),
        http::Request::new(())
    ));
}
