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
    /// A sales process (F11): a pipeline of ordered stages.
    ProcessId
);
aura_platform::id_type!(
    /// A stage of a sales process (F11).
    StageId
);
aura_platform::id_type!(
    /// A deal (F8), bound to one sales process forever.
    DealId
);
aura_platform::id_type!(
    /// A product of the catalog (F12).
    ProductId
);
aura_platform::id_type!(
    /// A line item on a deal (F13): a product, a quantity and a price.
    LineItemId
);
aura_platform::id_type!(
    /// A follow-up: a planned call, meeting or task with a due time (issue 18).
    FollowUpId
);
