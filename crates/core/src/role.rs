//! API key roles and what each may do.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Everything in the workspace, including keys, guidelines and erasure.
    Admin,
    /// Writes contacts and consent, sends; cannot manage the workspace.
    Sender,
    /// Reads only.
    Viewer,
}

/// Declares the permissions once: the `Permission` enum, and in [`can`] one
/// type per permission, so an API handler can name the one it needs in
/// its signature.
macro_rules! permissions {
    ($($(#[$doc:meta])* $name:ident,)*) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Permission {
            $($(#[$doc])* $name,)*
        }

        /// Each [`Permission`] as a type.
        pub mod can {
            use super::Permission;

            /// A permission as a type.
            pub trait Need {
                const PERMISSION: Permission;
            }

            $(
                #[doc = concat!("[`Permission::", stringify!($name), "`] as a type.")]
                pub struct $name;
                impl Need for $name {
                    const PERMISSION: Permission = Permission::$name;
                }
            )*
        }
    };
}

permissions! {
    Read,
    WriteContacts,
    RecordConsent,
    ExportContacts,
    EraseContacts,
    ManageWorkspace,
    ManageKeys,
    /// Compose and send messages.
    Send,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Sender => "sender",
            Self::Viewer => "viewer",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "admin" => Some(Self::Admin),
            "sender" => Some(Self::Sender),
            "viewer" => Some(Self::Viewer),
            _ => None,
        }
    }

    pub fn allows(self, permission: Permission) -> bool {
        use Permission::*;
        match self {
            Self::Admin => true,
            Self::Sender => matches!(permission, Read | WriteContacts | RecordConsent | Send),
            Self::Viewer => matches!(permission, Read),
        }
    }

    /// The least role that has `permission`, for error messages.
    pub fn least_for(permission: Permission) -> Role {
        [Self::Viewer, Self::Sender, Self::Admin]
            .into_iter()
            .find(|r| r.allows(permission))
            .unwrap_or(Self::Admin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_nest() {
        assert!(Role::Viewer.allows(Permission::Read));
        assert!(!Role::Viewer.allows(Permission::WriteContacts));
        assert!(Role::Sender.allows(Permission::RecordConsent));
        assert!(!Role::Sender.allows(Permission::ManageKeys));
        assert!(!Role::Sender.allows(Permission::EraseContacts));
        assert!(Role::Admin.allows(Permission::ManageKeys));
        assert_eq!(Role::least_for(Permission::WriteContacts), Role::Sender);
        assert_eq!(Role::least_for(Permission::ManageWorkspace), Role::Admin);
    }
}

/// A role of the platform's delivery team in the operator console.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OperatorRole {
    /// Everything: decisions on workspaces, imports, reviews, the policy
    /// and the guidelines.
    Operator,
    /// Reads everything, changes nothing.
    Auditor,
}

impl OperatorRole {
    pub const ALL: [Self; 2] = [Self::Operator, Self::Auditor];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Operator => "operator",
            Self::Auditor => "auditor",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == text)
    }

    /// Whether the role may change anything.
    pub fn may_act(self) -> bool {
        self == Self::Operator
    }
}
