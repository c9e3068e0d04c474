//! Who a request is made by (docs/design.md, "Principal"): [`BackstageCredentials`] and their [`Principal`].
//!
//! Auth middleware stores the credentials it verified on the request
//! (`request.extensions_mut().insert(credentials)`); spans read them from there, never from
//! headers or tokens.
//!
//! ```
//! use backstage_telemetry::{BackstageCredentials, Principal};
//!
//! let mut request = http::Request::new(());
//! request.extensions_mut().insert(BackstageCredentials::user("user:default/alice"));
//!
//! let credentials = BackstageCredentials::from_request(&request);
//! assert_eq!(credentials.principal(), &Principal::User { user_entity_ref: "user:default/alice".into() });
//! assert_eq!(BackstageCredentials::from_request(&http::Request::new(())).principal(), &Principal::None);
//! ```

use std::borrow::Cow;

use opentelemetry::KeyValue;

/// Attribute set on a span whenever credentials or a request are supplied.
pub const PRINCIPAL_TYPE_ATTRIBUTE: &str = "backstage.principal.type";
/// Attribute carrying the end user's identity, only with `backend.tracing.capture.endUser`.
pub const END_USER_ID_ATTRIBUTE: &str = "enduser.id";

/// The verified identity behind a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackstageCredentials {
    principal: Principal,
}

/// Who the credentials belong to.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Principal {
    /// A signed-in user.
    User {
        /// The user's entity ref, such as `user:default/alice`.
        user_entity_ref: String,
    },
    /// Another service calling this one.
    Service {
        /// The service's subject, such as `external:my-service` or `plugin:catalog`.
        subject: String,
    },
    /// Nobody: an unauthenticated request.
    None,
}

impl Principal {
    /// `user`, `service` or `none`: the value of `backstage.principal.type`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Principal::User { .. } => "user",
            Principal::Service { .. } => "service",
            Principal::None => "none",
        }
    }

    /// The identity exported as `enduser.id` when capture is on: the entity ref of a user,
    /// the subject of a service, nothing for none.
    pub fn end_user_id(&self) -> Option<&str> {
        match self {
            Principal::User { user_entity_ref } => Some(user_entity_ref),
            Principal::Service { subject } => Some(subject),
            Principal::None => None,
        }
    }
}

impl BackstageCredentials {
    /// Credentials of a signed-in user.
    pub fn user(user_entity_ref: impl Into<String>) -> Self {
        Self::new(Principal::User {
            user_entity_ref: user_entity_ref.into(),
        })
    }

    /// Credentials of a calling service.
    pub fn service(subject: impl Into<String>) -> Self {
        Self::new(Principal::Service {
            subject: subject.into(),
        })
    }

    /// Credentials of nobody.
    pub fn none() -> Self {
        Self::new(Principal::None)
    }

    /// Credentials of `principal`.
    pub fn new(principal: Principal) -> Self {
        BackstageCredentials { principal }
    }

    /// Who the credentials belong to.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// The credentials auth middleware stored on `request`, or those of nobody.
    pub fn from_request(
        request: &(impl CredentialsSource + ?Sized),
    ) -> Cow<'_, BackstageCredentials> {
        match request.stored_credentials() {
            Some(credentials) => Cow::Borrowed(credentials),
            None => Cow::Owned(BackstageCredentials::none()),
        }
    }

    /// The span attributes for these credentials: always `backstage.principal.type`, and
    /// `enduser.id` when `capture_end_user` and the principal has an identity.
    pub(crate) fn span_attributes(&self, capture_end_user: bool, into: &mut Vec<KeyValue>) {
        into.push(KeyValue::new(
            PRINCIPAL_TYPE_ATTRIBUTE,
            self.principal.type_name(),
        ));
        if capture_end_user && let Some(id) = self.principal.end_user_id() {
            into.push(KeyValue::new(END_USER_ID_ATTRIBUTE, id.to_owned()));
        }
    }
}

/// Something auth middleware can store credentials on: an `http::Request`, its `Parts`, or
/// bare `http::Extensions`.
pub trait CredentialsSource {
    /// The credentials stored by auth middleware, if any.
    fn stored_credentials(&self) -> Option<&BackstageCredentials>;
}

impl<T: CredentialsSource + ?Sized> CredentialsSource for &T {
    fn stored_credentials(&self) -> Option<&BackstageCredentials> {
        (**self).stored_credentials()
    }
}

impl<B> CredentialsSource for http::Request<B> {
    fn stored_credentials(&self) -> Option<&BackstageCredentials> {
        self.extensions().get()
    }
}

impl CredentialsSource for http::request::Parts {
    fn stored_credentials(&self) -> Option<&BackstageCredentials> {
        self.extensions.get()
    }
}

impl CredentialsSource for http::Extensions {
    fn stored_credentials(&self) -> Option<&BackstageCredentials> {
        self.get()
    }
}
