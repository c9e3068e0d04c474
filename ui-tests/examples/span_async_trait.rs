#![deny(warnings)]

#[backstage_telemetry::backstage_plugin(id = "notifications")]
mod notifications {
    use backstage_telemetry::span;

    #[async_trait::async_trait]
    pub trait Notifier {
        async fn notify(&self, message: &str) -> anyhow::Result<usize>;
    }

    pub struct Email;

    #[async_trait::async_trait]
    impl Notifier for Email {
        #[span(kind = producer)]
        async fn notify(&self, message: &str) -> anyhow::Result<usize> {
            anyhow::ensure!(!message.is_empty(), "empty message");
            Ok(message.len())
        }
    }
}

fn main() {
    use notifications::Notifier as _;
    assert_eq!(
        futures::executor::block_on(notifications::Email.notify("hi")).unwrap(),
        2
    );
    assert!(futures::executor::block_on(notifications::Email.notify("")).is_err());
}
