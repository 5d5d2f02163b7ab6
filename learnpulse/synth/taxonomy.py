"""Static vocabulary of the synthetic organisation: skills, interest groups, roles.

Plain data, readable ids. Interest groups double as content topics, so a
learner's latent interest group is directly visible in the ``topics`` of the
content they pick.
"""

from __future__ import annotations

# Interest group (= content topic) -> skills taught under it.
GROUPS: dict[str, tuple[str, ...]] = {
    "data": ("sql", "excel", "data_visualization", "statistics", "data_modeling", "tableau"),
    "programming": ("python", "javascript", "git", "testing", "cloud_basics", "api_design"),
    "sales_craft": (
        "prospecting",
        "negotiation",
        "crm",
        "objection_handling",
        "account_management",
        "pipeline_management",
    ),
    "leadership": (
        "leadership",
        "coaching",
        "giving_feedback",
        "delegation",
        "strategic_thinking",
        "change_management",
    ),
    "communication": (
        "public_speaking",
        "business_writing",
        "presentation",
        "active_listening",
        "storytelling",
    ),
    "compliance": (
        "security_awareness",
        "gdpr",
        "anti_bribery",
        "workplace_safety",
        "code_of_conduct",
    ),
    "design": ("ux_research", "prototyping", "figma", "accessibility"),
    "finance": ("budgeting", "forecasting", "accounting_basics", "financial_analysis"),
}

SKILL_GROUP: dict[str, str] = {s: g for g, skills in GROUPS.items() for s in skills}
SKILLS: tuple[str, ...] = tuple(SKILL_GROUP)

_NAMES = {
    "sql": "SQL",
    "gdpr": "GDPR",
    "crm": "CRM",
    "ux_research": "UX Research",
    "api_design": "API Design",
    "javascript": "JavaScript",
}


def skill_name(skill: str) -> str:
    """Human title of a skill id.

    >>> skill_name("public_speaking"), skill_name("sql")
    ('Public Speaking', 'SQL')
    """
    return _NAMES.get(skill) or skill.replace("_", " ").title()


# Department -> (share of headcount, role -> required skills {skill: target level}).
# Every role also needs the compliance basics in BASELINE.
BASELINE = {"security_awareness": 0.6, "code_of_conduct": 0.5}
DEPARTMENTS: dict[str, tuple[float, dict[str, dict[str, float]]]] = {
    "engineering": (
        0.24,
        {
            "software_engineer": {
                "python": 0.8,
                "git": 0.8,
                "testing": 0.7,
                "api_design": 0.6,
                "cloud_basics": 0.5,
            },
            "frontend_engineer": {
                "javascript": 0.8,
                "git": 0.7,
                "testing": 0.6,
                "accessibility": 0.5,
            },
            "qa_engineer": {"testing": 0.8, "python": 0.5, "git": 0.5},
            "engineering_manager": {
                "leadership": 0.7,
                "coaching": 0.6,
                "delegation": 0.6,
                "python": 0.5,
                "giving_feedback": 0.6,
            },
        },
    ),
    "data": (
        0.08,
        {
            "data_analyst": {
                "sql": 0.8,
                "excel": 0.7,
                "data_visualization": 0.7,
                "statistics": 0.6,
            },
            "data_scientist": {"python": 0.7, "statistics": 0.8, "sql": 0.7, "data_modeling": 0.6},
            "data_manager": {
                "leadership": 0.7,
                "sql": 0.5,
                "strategic_thinking": 0.6,
                "coaching": 0.5,
            },
        },
    ),
    "sales": (
        0.18,
        {
            "account_executive": {
                "negotiation": 0.8,
                "objection_handling": 0.7,
                "crm": 0.6,
                "account_management": 0.7,
            },
            "sales_development_rep": {
                "prospecting": 0.8,
                "crm": 0.6,
                "public_speaking": 0.5,
                "objection_handling": 0.5,
            },
            "sales_manager": {
                "leadership": 0.7,
                "pipeline_management": 0.7,
                "coaching": 0.6,
                "negotiation": 0.6,
            },
        },
    ),
    "marketing": (
        0.10,
        {
            "marketing_specialist": {
                "storytelling": 0.7,
                "business_writing": 0.7,
                "data_visualization": 0.4,
            },
            "marketing_analyst": {
                "excel": 0.7,
                "sql": 0.5,
                "statistics": 0.5,
                "data_visualization": 0.6,
            },
            "marketing_manager": {
                "leadership": 0.7,
                "strategic_thinking": 0.6,
                "storytelling": 0.6,
                "budgeting": 0.5,
            },
        },
    ),
    "operations": (
        0.15,
        {
            "operations_analyst": {"excel": 0.7, "workplace_safety": 0.6, "forecasting": 0.5},
            "project_manager": {
                "delegation": 0.6,
                "presentation": 0.6,
                "change_management": 0.6,
                "budgeting": 0.4,
            },
            "support_specialist": {"active_listening": 0.7, "business_writing": 0.5, "crm": 0.5},
            "operations_manager": {
                "leadership": 0.7,
                "change_management": 0.6,
                "workplace_safety": 0.6,
                "budgeting": 0.5,
            },
        },
    ),
    "finance": (
        0.08,
        {
            "financial_analyst": {"financial_analysis": 0.8, "excel": 0.8, "forecasting": 0.7},
            "accountant": {"accounting_basics": 0.8, "excel": 0.7, "anti_bribery": 0.6},
            "finance_manager": {"leadership": 0.6, "budgeting": 0.8, "financial_analysis": 0.6},
        },
    ),
    "hr": (
        0.07,
        {
            "hr_partner": {
                "active_listening": 0.7,
                "giving_feedback": 0.7,
                "gdpr": 0.7,
                "change_management": 0.5,
            },
            "recruiter": {"active_listening": 0.6, "business_writing": 0.5, "gdpr": 0.6},
            "hr_manager": {"leadership": 0.7, "coaching": 0.7, "gdpr": 0.6},
        },
    ),
    "design": (
        0.06,
        {
            "ux_designer": {
                "ux_research": 0.8,
                "prototyping": 0.7,
                "figma": 0.7,
                "accessibility": 0.6,
            },
            "product_designer": {"figma": 0.8, "prototyping": 0.7, "storytelling": 0.5},
            "design_manager": {"leadership": 0.7, "ux_research": 0.5, "giving_feedback": 0.6},
        },
    ),
}

# The interest group a department's people most often lean towards.
DEPT_GROUP: dict[str, str] = {
    "engineering": "programming",
    "data": "data",
    "sales": "sales_craft",
    "marketing": "communication",
    "operations": "leadership",
    "finance": "finance",
    "hr": "communication",
    "design": "design",
}


def role_skills() -> dict[str, dict[str, float]]:
    """Role -> required skills with target levels, baseline compliance included."""
    out: dict[str, dict[str, float]] = {}
    for _share, roles in DEPARTMENTS.values():
        for role, skills in roles.items():
            out[role] = {**BASELINE, **skills}
    return out


def manager_role(dept: str) -> str:
    """The role of a team manager in ``dept`` (the one role ending in ``_manager``)."""
    return next(r for r in DEPARTMENTS[dept][1] if r.endswith("_manager"))


TIME_ZONES: tuple[tuple[str, float], ...] = (
    ("Europe/Berlin", 0.25),
    ("America/New_York", 0.2),
    ("Asia/Kolkata", 0.15),
    ("UTC", 0.08),
    ("America/Los_Angeles", 0.12),
    ("Europe/London", 0.1),
    ("Asia/Singapore", 0.05),
    ("America/Sao_Paulo", 0.05),
)
CHANNELS: tuple[tuple[str, ...], ...] = (
    ("in_app",),
    ("in_app", "email"),
    ("email", "in_app"),
    ("chat", "in_app"),
    ("in_app", "chat", "email"),
)
