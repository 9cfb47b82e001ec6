-- Deals join CSV import (issue 15): `imports` and `import_mappings` take `deal` as their
-- entity. No policy, check or function lists the entities (the policies decide by role, and
-- `aura.claim_import` by status), so nothing else changes: a rep's context is still refused
-- every import, and the worker still runs a deal import in the context of the member who
-- started it, where the deals' own policies apply to what it writes.
alter type aura.import_entity add value 'deal';
