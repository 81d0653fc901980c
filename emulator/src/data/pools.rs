//! Word pools the generator draws names and texts from.

pub const FIRST_NAMES: &[&str] = &[
    "Ada", "Bruno", "Chiara", "Dmitri", "Elena", "Farid", "Greta", "Hiro", "Ines", "Jonas", "Kiri",
    "Luca", "Maya", "Nils", "Olga", "Pablo", "Quinn", "Rosa", "Sami", "Tariq", "Uma", "Viktor",
    "Wen", "Ximena", "Yusuf", "Zoe",
];

pub const LAST_NAMES: &[&str] = &[
    "Andersen",
    "Becker",
    "Costa",
    "Dubois",
    "Eriksen",
    "Fischer",
    "García",
    "Hoffmann",
    "Ivanova",
    "Jansen",
    "Kowalski",
    "Lindqvist",
    "Moreau",
    "Nakamura",
    "O'Brien",
    "Petrov",
    "Quispe",
    "Rossi",
    "Schmidt",
    "Tanaka",
    "Urban",
    "Varga",
    "Weber",
    "Xu",
    "Yilmaz",
    "Zimmermann",
];

pub const COMPANY_WORDS: &[&str] = &[
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Stark",
    "Wayne",
    "Tyrell",
    "Cyberdyne",
    "Soylent",
    "Hooli",
    "Vandelay",
    "Wonka",
    "Oscorp",
    "Aperture",
    "Massive",
    "Dunder",
    "Pied Piper",
    "Monarch",
    "Gringotts",
    "Nakatomi",
];

pub const COMPANY_SUFFIXES: &[&str] = &["Inc.", "GmbH", "Ltd", "LLC", "SA", "BV", "Corp", "& Co"];

pub const PROJECT_WORDS: &[&str] = &[
    "Website Redesign",
    "Mobile App",
    "Data Migration",
    "Brand Refresh",
    "Annual Audit",
    "Cloud Move",
    "Onboarding Flow",
    "Analytics Platform",
    "Security Review",
    "Checkout Revamp",
    "API Integration",
    "Marketing Campaign",
];

pub const TASK_NAMES: &[&str] = &[
    "Design",
    "Development",
    "Project Management",
    "Research",
    "Testing",
    "Meetings",
    "Writing",
    "Support",
    "Travel",
    "Training",
    "Code Review",
    "Deployment",
];

pub const EXPENSE_CATEGORIES: &[(&str, Option<(&str, i64)>)] = &[
    ("Mileage", Some(("mile", 58))),
    ("Lodging", None),
    ("Meals", None),
    ("Entertainment", None),
    ("Software", None),
    ("Per Diem", Some(("day", 4_500))),
    ("Hardware", None),
    ("Printing", Some(("page", 12))),
];

pub const ITEM_CATEGORIES: &[&str] = &[
    "Service", "Product", "Hours", "Expense", "Hosting", "License", "Retainer",
];

pub const ROLE_NAMES: &[&str] = &[
    "Designers",
    "Developers",
    "Managers",
    "Contractors",
    "Marketing",
    "Finance",
];

pub const NOTES: &[&str] = &[
    "Worked on the homepage layout",
    "Fixed a bug in the checkout flow",
    "Weekly sync with the client",
    "Reviewed pull requests",
    "Wrote the release notes",
    "Planning for next sprint",
    "Investigated a production incident",
    "Prepared the quarterly report",
    "Pairing session on the data model",
    "Updated the \"style guide\" & tokens",
    "Call with stakeholders\nfollow-up tomorrow",
    "Refactored the billing module",
];

pub const CURRENCIES: &[&str] = &["USD", "EUR", "GBP"];

/// Rails time zone names, as Harvest sends them (not IANA ids).
pub const TIMEZONES: &[&str] = &[
    "Eastern Time (US & Canada)",
    "Santiago",
    "London",
    "Kyiv",
    "Pacific Time (US & Canada)",
    "Berlin",
];

/// `permissions_claims` per access role (Harvest's 2022 permission model).
pub const MEMBER_CLAIMS: &[&str] = &[
    "expenses:read:own",
    "expenses:write:own",
    "timers:read:own",
    "timers:write:own",
];
pub const MANAGER_CLAIMS: &[&str] = &[
    "expenses:read:managed",
    "expenses:read:own",
    "expenses:write:managed",
    "expenses:write:own",
    "projects:read:managed",
    "timers:read:managed",
    "timers:read:own",
    "timers:write:managed",
    "timers:write:own",
];
pub const ADMINISTRATOR_CLAIMS: &[&str] = &[
    "billing:read",
    "billing:write",
    "expenses:read:all",
    "expenses:write:all",
    "projects:read:all",
    "projects:write:all",
    "reports:read",
    "timers:read:all",
    "timers:write:all",
    "users:read",
    "users:write",
];

pub const PAYMENT_TERMS: &[&str] = &[
    "upon receipt",
    "net 15",
    "net 30",
    "net 45",
    "net 60",
    "custom",
];

pub const GATEWAYS: &[&str] = &["Stripe", "PayPal", "Authorize.Net"];
