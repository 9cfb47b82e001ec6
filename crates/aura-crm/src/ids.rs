//! The CRM's identifiers.

aura_platform::id_type!(
    /// An organization (a customer company, F6).
    OrganizationId
);
aura_platform::id_type!(
    /// A contact (a person, F7).
    ContactId
);
aura_platform::id_type!(
    /// An activity logged on a contact (F10).
    ActivityId
);
aura_platform::id_type!(
    /// A sales process (a pipeline of stages, F11).
    ProcessId
);
aura_platform::id_type!(
    /// A stage of a sales process (F11.3).
    StageId
);
