//! The todo list: every operation is a span carrying the caller's principal.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use backstage_telemetry::{BackstageCredentials, KeyValue, current_span, span};
use serde::{Deserialize, Serialize};

use crate::metrics::{CREATED, OPEN};

#[derive(Clone, Debug, Serialize)]
pub struct Todo {
    pub id: u64,
    pub title: String,
    pub category: String,
    /// The user who created it, when the app-config lets identities be recorded.
    pub author: Option<String>,
    pub done: bool,
    /// Whose quota it counts against (never shown).
    #[serde(skip)]
    owner: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct NewTodo {
    pub title: String,
    /// On the `create-todo` span: bounded before the span starts.
    #[serde(
        default = "personal",
        deserialize_with = "backend_plugin_api::bounded_string::<_, MAX_CATEGORY_CHARS>"
    )]
    pub category: String,
}

fn personal() -> String {
    "personal".to_owned()
}

/// The categories a metric label may take; anything else a client sends is `other`, so
/// clients cannot mint series.
pub const CATEGORIES: [&str; 4] = ["personal", "work", "shopping", "other"];

fn category_label(category: &str) -> &'static str {
    CATEGORIES
        .iter()
        .find(|known| **known == category)
        .copied()
        .unwrap_or("other")
}

#[derive(Debug, Deserialize)]
pub struct TodoUpdate {
    pub title: Option<String>,
    pub done: Option<bool>,
}

/// The longest title, in characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// The longest category, in characters (a longer one is refused before any span sees it).
pub const MAX_CATEGORY_CHARS: usize = 40;
/// The most todos one principal (user or service) may have, unless the app-config's
/// `todos.maxPerPrincipal` says otherwise.
pub const MAX_TODOS_PER_PRINCIPAL: usize = 100;

/// Why a todo was refused.
#[derive(Debug)]
pub enum TodoError {
    EmptyTitle,
    TitleTooLong,
    NotFound(u64),
    /// The caller has as many todos as one may have (the limit).
    TooMany(usize),
}

impl std::fmt::Display for TodoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TodoError::EmptyTitle => f.write_str("a todo needs a title"),
            TodoError::TitleTooLong => {
                write!(f, "a title has at most {MAX_TITLE_CHARS} characters")
            }
            TodoError::NotFound(id) => write!(f, "no todo {id}"),
            TodoError::TooMany(limit) => {
                write!(f, "you have {limit} todos already: delete some first")
            }
        }
    }
}

#[backstage_telemetry::error_type]
impl backstage_telemetry::ErrorType for TodoError {
    fn error_type(&self) -> std::borrow::Cow<'static, str> {
        match self {
            TodoError::EmptyTitle => "empty_title".into(),
            TodoError::TitleTooLong => "title_too_long".into(),
            TodoError::NotFound(_) => "not_found".into(),
            TodoError::TooMany(_) => "too_many".into(),
        }
    }

    /// Every one is the caller's (400, 404, 409): span metrics record them as
    /// `outcome="rejected"`, so the error ratio counts only the plugin's own failures.
    fn is_client_error(&self) -> bool {
        true
    }
}

/// Who owns a todo: the user's entity ref or the service's subject.
fn owner(credentials: &BackstageCredentials) -> Option<String> {
    match credentials.principal() {
        backstage_telemetry::Principal::User { user_entity_ref } => Some(user_entity_ref.clone()),
        backstage_telemetry::Principal::Service { subject } => Some(subject.clone()),
        // nobody (writes need a token: the backend answers 401 before this)
        _ => None,
    }
}

#[derive(Clone)]
pub struct Todos {
    store: Arc<Mutex<Store>>,
    /// The most todos one principal may have.
    limit: usize,
}

/// The todos by id, with the next id and each owner's count kept as they change: no
/// request scans the list (`create` once looked for the highest id and counted the
/// caller's todos in every one, so its cost grew with the list).
#[derive(Debug, Default)]
struct Store {
    items: BTreeMap<u64, Todo>,
    last_id: u64,
    per_owner: HashMap<Option<String>, usize>,
}

impl Default for Todos {
    fn default() -> Self {
        Todos::with_limit(MAX_TODOS_PER_PRINCIPAL)
    }
}

impl Todos {
    /// An empty list where a principal may have at most `limit` todos.
    pub fn with_limit(limit: usize) -> Self {
        Todos {
            store: Arc::default(),
            limit,
        }
    }

    fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        self.store
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    #[span(metrics, name = "list-todos", credentials = credentials)]
    pub fn list(&self, credentials: &BackstageCredentials) -> Vec<Todo> {
        let items: Vec<Todo> = self.store().items.values().cloned().collect();
        current_span().set_attribute(KeyValue::new("todos.count", items.len() as i64));
        items
    }

    #[span(metrics, name = "create-todo", credentials = credentials, attributes(todo.category = new.category.clone()))]
    pub fn create(
        &self,
        new: NewTodo,
        credentials: &BackstageCredentials,
    ) -> Result<Todo, TodoError> {
        let title = validate_title(&new.title)?;
        let owner = owner(credentials);
        let mut store = self.store();
        let store = &mut *store;
        let count = store.per_owner.entry(owner.clone()).or_default();
        if *count >= self.limit {
            return Err(TodoError::TooMany(self.limit));
        }
        *count += 1;
        store.last_id += 1;
        let todo = Todo {
            id: store.last_id,
            title,
            category: new.category,
            author: credentials.principal().end_user_id().map(str::to_owned),
            done: false,
            owner,
        };
        store.items.insert(todo.id, todo.clone());
        CREATED.add(
            1,
            &[KeyValue::new("category", category_label(&todo.category))],
        );
        OPEN.add(1, &[]);
        tracing::info!(todo = todo.id, "todo created");
        Ok(todo)
    }

    #[span(metrics, name = "get-todo", credentials = credentials, attributes(todo.id = id as i64))]
    pub fn get(&self, id: u64, credentials: &BackstageCredentials) -> Result<Todo, TodoError> {
        self.store()
            .items
            .get(&id)
            .cloned()
            .ok_or(TodoError::NotFound(id))
    }

    #[span(metrics, name = "update-todo", credentials = credentials, attributes(todo.id = id as i64))]
    pub fn update(
        &self,
        id: u64,
        update: TodoUpdate,
        credentials: &BackstageCredentials,
    ) -> Result<Todo, TodoError> {
        let title = update.title.as_deref().map(validate_title).transpose()?;
        let mut store = self.store();
        let todo = store.items.get_mut(&id).ok_or(TodoError::NotFound(id))?;
        if let Some(title) = title {
            todo.title = title;
        }
        if let Some(done) = update.done {
            if done != todo.done {
                OPEN.add(if done { -1 } else { 1 }, &[]);
            }
            todo.done = done;
        }
        Ok(todo.clone())
    }

    #[span(metrics, name = "delete-todo", credentials = credentials, attributes(todo.id = id as i64))]
    pub fn delete(&self, id: u64, credentials: &BackstageCredentials) -> Result<(), TodoError> {
        let mut store = self.store();
        let todo = store.items.remove(&id).ok_or(TodoError::NotFound(id))?;
        if let Some(count) = store.per_owner.get_mut(&todo.owner) {
            *count = count.saturating_sub(1);
        }
        if !todo.done {
            OPEN.add(-1, &[]);
        }
        Ok(())
    }
}

/// Checked inside a `tracing` span: it nests under the plugin span, and this `#[span]`
/// nests under it.
fn validate_title(title: &str) -> Result<String, TodoError> {
    let span = tracing::info_span!("validate-title", title.length = title.len());
    span.in_scope(|| trimmed(title))
}

#[span(name = "trim-title")]
fn trimmed(title: &str) -> Result<String, TodoError> {
    let title = title.trim();
    if title.is_empty() {
        Err(TodoError::EmptyTitle)
    } else if title.chars().count() > MAX_TITLE_CHARS {
        Err(TodoError::TitleTooLong)
    } else {
        Ok(title.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use backstage_telemetry::BackstageCredentials;

    use super::{NewTodo, TodoError, Todos};

    fn new(title: &str) -> NewTodo {
        NewTodo {
            title: title.to_owned(),
            category: "work".to_owned(),
        }
    }

    #[test]
    fn ids_are_never_reused_and_the_cap_counts_each_owners_todos_as_they_change() {
        let todos = Todos::with_limit(2);
        let alice = BackstageCredentials::user("user:default/alice");
        let bob = BackstageCredentials::user("user:default/bob");
        let first = todos.create(new("one"), &alice).unwrap();
        let second = todos.create(new("two"), &alice).unwrap();
        assert_eq!((first.id, second.id), (1, 2));
        // alice is at the cap; bob is not
        assert!(matches!(
            todos.create(new("three"), &alice),
            Err(TodoError::TooMany(2))
        ));
        assert_eq!(todos.create(new("bob's"), &bob).unwrap().id, 3);
        // deleting the newest frees a place, and its id is not given again
        todos.delete(second.id, &alice).unwrap();
        assert_eq!(todos.create(new("four"), &alice).unwrap().id, 4);
        assert!(matches!(
            todos.get(second.id, &alice),
            Err(TodoError::NotFound(2))
        ));
        let listed: Vec<u64> = todos.list(&alice).iter().map(|t| t.id).collect();
        assert_eq!(listed, [1, 3, 4]);
    }
}
