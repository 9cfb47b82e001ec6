//! What each role may do (F4.1): the one matrix the domain functions check and the pages ask
//! before offering an action. The database's RLS policies hold the same rules as the last line;
//! this is the application's mirror of them. README.md's "Roles and permissions" table is
//! tested against it.

use crate::ids::MemberRole;

/// An action of the permission table, one per row of README.md's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Sign in, see the workspace home, use the API as themself.
    UseWorkspace,
    SeeMembers,
    /// Invite members, change roles, deactivate and reactivate them.
    ManageMembers,
    /// Remove a member (after a step-up check).
    RemoveMembers,
    EditSettings,
    ReadAuditLog,
    /// Change sales processes, stages and products (RLS only so far).
    ChangeCatalog,
    ReadCatalog,
    /// Create and edit organizations.
    EditOrganizations,
    /// Delete and restore organizations.
    DeleteOrganizations,
    /// See, search, edit, delete and restore every contact; without it, only those assigned to
    /// the member.
    AllContacts,
    /// Create a contact for someone else, reassign contacts.
    AssignContacts,
    /// Log, see and delete activities on any contact; without it, on their own contacts.
    ActivitiesOnAnyContact,
    /// Nobody: activities are a record of what happened.
    EditActivities,
    /// Define and archive custom fields.
    DefineCustomFields,
    /// Export the whole workspace and download the file (after a step-up check).
    ExportWorkspace,
    /// See, search, edit, move, close, delete and restore every deal; without it, only those
    /// assigned to the member.
    AllDeals,
    /// Create a deal for someone else, reassign deals.
    AssignDeals,
}

impl Permission {
    pub const ALL: [Permission; 18] = [
        Permission::UseWorkspace,
        Permission::SeeMembers,
        Permission::ManageMembers,
        Permission::RemoveMembers,
        Permission::EditSettings,
        Permission::ReadAuditLog,
        Permission::ChangeCatalog,
        Permission::ReadCatalog,
        Permission::EditOrganizations,
        Permission::DeleteOrganizations,
        Permission::AllContacts,
        Permission::AssignContacts,
        Permission::AllDeals,
        Permission::AssignDeals,
        Permission::ActivitiesOnAnyContact,
        Permission::EditActivities,
        Permission::DefineCustomFields,
        Permission::ExportWorkspace,
    ];
}

impl MemberRole {
    /// Whether a member of this role may do `permission` (F4.1).
    pub fn may(self, permission: Permission) -> bool {
        use MemberRole::{Admin, Manager};
        use Permission::*;
        match permission {
            UseWorkspace | ReadCatalog | EditOrganizations => true,
            SeeMembers
            | DeleteOrganizations
            | AllContacts
            | AssignContacts
            | ActivitiesOnAnyContact
            | AllDeals
            | AssignDeals => matches!(self, Admin | Manager),
            ManageMembers | RemoveMembers | EditSettings | ReadAuditLog | ChangeCatalog
            | DefineCustomFields | ExportWorkspace => self == Admin,
            EditActivities => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const README: &str = include_str!("../../../README.md");

    /// The README row of each permission, by its action cell.
    fn action(permission: Permission) -> &'static str {
        match permission {
            Permission::UseWorkspace => "sign in, see the workspace home, use the API as themself",
            Permission::SeeMembers => "see the members page",
            Permission::ManageMembers => "invite members, change roles, deactivate, reactivate",
            Permission::RemoveMembers => "remove a member (needs an emailed one-time code, or the password without a mail server; their contacts pass to the admin)",
            Permission::EditSettings => "edit workspace settings",
            Permission::ReadAuditLog => "read the audit log",
            Permission::ChangeCatalog => "change sales processes, stages, products",
            Permission::ReadCatalog => "read sales processes, stages, products",
            Permission::EditOrganizations => "create, edit organizations",
            Permission::DeleteOrganizations => "delete, restore organizations",
            Permission::AllContacts => "see, search, edit, delete, restore contacts",
            Permission::AssignContacts => {
                "create a contact for someone else, reassign (also in bulk)"
            }
            Permission::ActivitiesOnAnyContact => "log activities; see, delete them",
            Permission::EditActivities => "edit an activity",
            Permission::DefineCustomFields => "define, archive custom fields",
            Permission::ExportWorkspace => {
                "export the whole workspace (needs an emailed one-time code, or the password without a mail server)"
            }
            Permission::AllDeals => "see, search, edit, move, close, delete, restore deals",
            Permission::AssignDeals => "create a deal for someone else, reassign deals (also in bulk)",
        }
    }

    /// A role's cell: whether it grants the action (everywhere, for the scoped rows).
    fn granted(cell: &str) -> bool {
        match cell {
            "yes" | "all" | "on any contact" => true,
            "no" | "assigned to them" | "on their contacts" => false,
            other => panic!("README permission cell `{other}` is neither a grant nor a refusal"),
        }
    }

    fn cells(line: &str) -> Vec<&str> {
        line.trim()
            .trim_matches('|')
            .split('|')
            .map(str::trim)
            .collect()
    }

    #[test]
    fn readme_permission_table_matches_the_matrix() {
        let mut lines = README
            .lines()
            .skip_while(|line| !line.starts_with("### Roles and permissions"))
            .skip_while(|line| !line.starts_with('|'))
            .take_while(|line| line.starts_with('|'));
        let header = cells(lines.next().expect("README has the permission table"));
        let column = |role: MemberRole| {
            header
                .iter()
                .position(|cell| *cell == role.label())
                .unwrap_or_else(|| panic!("the table has no {} column", role.label()))
        };
        let mut seen = Vec::new();
        for line in lines.skip(1) {
            let row = cells(line);
            let permission = Permission::ALL
                .into_iter()
                .find(|p| action(*p) == row[0])
                .unwrap_or_else(|| panic!("README row `{}` names no Permission", row[0]));
            for role in MemberRole::ALL {
                assert_eq!(
                    granted(row[column(role)]),
                    role.may(permission),
                    "README says {} `{}` for `{}`",
                    role.label(),
                    row[column(role)],
                    row[0]
                );
            }
            seen.push(permission);
        }
        assert_eq!(
            seen,
            Permission::ALL,
            "one README row per permission, in order"
        );
    }
}
