//! Who did it: a readable actor from a record's `userIdentity`.
//!
//! A role session is reported with the role that issued it (`sessionContext.sessionIssuer`), an
//! IAM Identity Center session with the person's user name and permission set, a service with the
//! service's name.

use serde::Serialize;

/// The `userIdentity` fields the resolution needs (all optional: shapes vary by type).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    pub kind: Option<String>,
    pub arn: Option<String>,
    pub user_name: Option<String>,
    pub principal_id: Option<String>,
    pub account_id: Option<String>,
    pub access_key_id: Option<String>,
    pub invoked_by: Option<String>,
    pub on_behalf_of: Option<String>,
    pub issuer_type: Option<String>,
    pub issuer_arn: Option<String>,
    pub issuer_user_name: Option<String>,
    pub mfa_authenticated: Option<String>,
    pub credential_from_console: Option<String>,
}

/// The resolved actor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Actor {
    /// iam-user, role-session, identity-center, federated, saml, web-identity, root, service,
    /// account or unknown.
    pub kind: &'static str,
    /// One readable line: `alice (IAM user)`, `role Admin, session bob`, ...
    pub display: String,
    /// The principal's own ARN (the session ARN for role sessions).
    pub arn: Option<String>,
    /// For sessions: the role or user that issued it.
    pub issuer: Option<String>,
    pub access_key_id: Option<String>,
    /// `console` when the credentials came from a console sign-in, `api` otherwise.
    pub via: &'static str,
    /// `yes` / `no` when the record says, `unknown` when it does not.
    pub mfa: &'static str,
}

fn last_segment(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// `arn:aws:sts::1:assumed-role/Role/session` → (`Role`, `session`).
fn role_and_session(arn: &str) -> Option<(&str, &str)> {
    let rest = arn.split_once(":assumed-role/")?.1;
    rest.split_once('/')
}

impl Identity {
    pub fn resolve(&self) -> Actor {
        let kind_text = self.kind.as_deref().unwrap_or("");
        let arn = self.arn.as_deref();
        let name_or = |fallback: &str| {
            self.user_name
                .clone()
                .or_else(|| arn.map(|a| last_segment(a).to_string()))
                .or_else(|| self.principal_id.clone())
                .unwrap_or_else(|| fallback.to_string())
        };
        let (kind, display) = match kind_text {
            "IAMUser" => ("iam-user", format!("{} (IAM user)", name_or("?"))),
            "Root" => (
                "root",
                format!(
                    "root (account {})",
                    self.account_id.as_deref().unwrap_or("?")
                ),
            ),
            "AssumedRole" => {
                let (role, session) = arn
                    .and_then(role_and_session)
                    .map(|(r, s)| (r.to_string(), s.to_string()))
                    .unwrap_or_else(|| {
                        (
                            self.issuer_user_name.clone().unwrap_or_else(|| "?".into()),
                            self.principal_id
                                .as_deref()
                                .and_then(|p| p.split_once(':'))
                                .map(|(_, s)| s.to_string())
                                .unwrap_or_else(|| "?".into()),
                        )
                    });
                if let Some(set) = role.strip_prefix("AWSReservedSSO_") {
                    let set = set.rsplit_once('_').map(|(s, _)| s).unwrap_or(set);
                    (
                        "identity-center",
                        format!("{session} (Identity Center, permission set {set})"),
                    )
                } else {
                    ("role-session", format!("role {role}, session {session}"))
                }
            }
            "IdentityCenterUser" => (
                "identity-center",
                format!(
                    "{} (Identity Center user)",
                    self.on_behalf_of.clone().unwrap_or_else(|| name_or("?"))
                ),
            ),
            "FederatedUser" => {
                let by = self
                    .issuer_arn
                    .as_deref()
                    .map(|i| format!(", issued by {}", last_segment(i)))
                    .unwrap_or_default();
                (
                    "federated",
                    format!("{} (federated user{by})", name_or("?")),
                )
            }
            "SAMLUser" => ("saml", format!("{} (SAML user)", name_or("?"))),
            "WebIdentityUser" => (
                "web-identity",
                format!("{} (web identity user)", name_or("?")),
            ),
            "AWSService" => (
                "service",
                format!(
                    "{} (AWS service)",
                    self.invoked_by.as_deref().unwrap_or("unknown service")
                ),
            ),
            "AWSAccount" => (
                "account",
                format!(
                    "account {}{}",
                    self.account_id.as_deref().unwrap_or("?"),
                    self.principal_id
                        .as_deref()
                        .map(|p| format!(" (principal {p})"))
                        .unwrap_or_default()
                ),
            ),
            other => (
                "unknown",
                match (other, arn.or(self.principal_id.as_deref())) {
                    ("", Some(a)) => a.to_string(),
                    ("", None) => "unknown".to_string(),
                    (t, Some(a)) => format!("{a} ({t})"),
                    (t, None) => format!("unknown ({t})"),
                },
            ),
        };
        let issuer = match kind {
            "role-session" | "identity-center" | "federated" => self.issuer_arn.clone(),
            _ => None,
        };
        Actor {
            kind,
            display,
            arn: self.arn.clone(),
            issuer,
            access_key_id: self.access_key_id.clone(),
            via: if self.credential_from_console.as_deref() == Some("true") {
                "console"
            } else {
                "api"
            },
            mfa: match self.mfa_authenticated.as_deref() {
                Some("true") => "yes",
                Some("false") => "no",
                _ => "unknown",
            },
        }
    }

    /// Does this identity belong to `principal` (user name, user/role/session ARN, role name,
    /// access key id, principal id, or Identity Center user id)?
    pub fn is(&self, principal: &str) -> bool {
        let eq = |v: &Option<String>| v.as_deref() == Some(principal);
        eq(&self.arn)
            || eq(&self.user_name)
            || eq(&self.access_key_id)
            || eq(&self.principal_id)
            || eq(&self.issuer_arn)
            || eq(&self.issuer_user_name)
            || eq(&self.on_behalf_of)
            || self
                .arn
                .as_deref()
                .is_some_and(|a| a.starts_with(principal) && a[principal.len()..].starts_with('/'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Option<String> {
        Some(v.to_string())
    }

    #[test]
    fn iam_user() {
        let a = Identity {
            kind: s("IAMUser"),
            arn: s("arn:aws:iam::1:user/alice"),
            user_name: s("alice"),
            access_key_id: s("AKIAEXAMPLE"),
            ..Default::default()
        }
        .resolve();
        assert_eq!(a.display, "alice (IAM user)");
        assert_eq!(a.kind, "iam-user");
        assert_eq!(a.via, "api");
        assert_eq!(a.mfa, "unknown");
    }

    #[test]
    fn role_session_and_identity_center() {
        let id = Identity {
            kind: s("AssumedRole"),
            arn: s("arn:aws:sts::1:assumed-role/Deployer/ci-run-7"),
            issuer_arn: s("arn:aws:iam::1:role/Deployer"),
            issuer_user_name: s("Deployer"),
            mfa_authenticated: s("false"),
            credential_from_console: s("true"),
            ..Default::default()
        };
        let a = id.resolve();
        assert_eq!(a.display, "role Deployer, session ci-run-7");
        assert_eq!(a.issuer.as_deref(), Some("arn:aws:iam::1:role/Deployer"));
        assert_eq!((a.via, a.mfa), ("console", "no"));
        assert!(id.is("Deployer"));
        assert!(id.is("arn:aws:iam::1:role/Deployer"));
        assert!(id.is("arn:aws:sts::1:assumed-role/Deployer"));
        assert!(!id.is("arn:aws:sts::1:assumed-role/Deploy"));
        let sso = Identity {
            kind: s("AssumedRole"),
            arn: s("arn:aws:sts::1:assumed-role/AWSReservedSSO_AdministratorAccess_0123abcd/jane@example.com"),
            ..Default::default()
        }
        .resolve();
        assert_eq!(
            sso.display,
            "jane@example.com (Identity Center, permission set AdministratorAccess)"
        );
    }

    #[test]
    fn others() {
        let root = Identity {
            kind: s("Root"),
            account_id: s("123"),
            arn: s("arn:aws:iam::123:root"),
            ..Default::default()
        };
        assert_eq!(root.resolve().display, "root (account 123)");
        let svc = Identity {
            kind: s("AWSService"),
            invoked_by: s("autoscaling.amazonaws.com"),
            ..Default::default()
        };
        assert_eq!(
            svc.resolve().display,
            "autoscaling.amazonaws.com (AWS service)"
        );
        assert_eq!(Identity::default().resolve().display, "unknown");
    }
}
