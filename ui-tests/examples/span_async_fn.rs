#![deny(warnings)]

#[backstage_telemetry::backstage_plugin(id = "todos")]
mod todos {
    use backstage_telemetry::span;

    #[span]
    pub async fn list(owner: String) -> Result<Vec<String>, std::io::Error> {
        let todos = load(&owner).await?;
        Ok(todos)
    }

    #[span]
    pub async fn load(owner: &str) -> std::io::Result<Vec<String>> {
        if owner.is_empty() {
            return Err(std::io::Error::other("no owner"));
        }
        Ok(vec![format!("{owner}: write docs")])
    }

    #[span]
    pub async fn nothing() {}
}

fn main() {
    let todos = futures::executor::block_on(todos::list("alice".into())).unwrap();
    assert_eq!(todos, ["alice: write docs"]);
    assert!(futures::executor::block_on(todos::list(String::new())).is_err());
    futures::executor::block_on(todos::nothing());
}
