"""Candidate sources: each one proposes what a learner would expect, and nothing else."""

from __future__ import annotations

from typing import Any

from streams.models import candidates as cand
from streams.models.candidates import CatalogIndex, Context, generate
from streams.models.popularity import ALL, Popularity, segment_key, topic_key
from streams.models.state import new_state

DAY = 86_400_000
NOW = 1_736_424_000_000  # Thursday 2025-01-09 12:00 UTC


def item(
    cid: str,
    skill: str = "sql",
    topic: str = "data",
    level: int = 1,
    fmt: str = "course",
    prereq: tuple[str, ...] = (),
    age_days: float = 200,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "content_id": cid,
        "title": extra.pop("title", cid.replace("-", " ").title()),
        "skills": [skill],
        "topics": [topic],
        "level": level,
        "format": fmt,
        "duration_min": 20.0,
        "prerequisites": list(prereq),
        "published_at_ms": NOW - int(age_days * DAY),
        "active": True,
        **extra,
    }


CATALOG = {
    it["content_id"]: it
    for it in [
        item("sql-1", level=1),
        item("sql-2", level=2, prereq=("sql-1",)),
        item("sql-3", level=3, prereq=("sql-2",)),
        item("sql-4", level=4),
        item("excel-1", skill="excel"),
        item("excel-2", skill="excel", level=2),
        item("stats-3", skill="statistics", level=3),
        item("py-1", skill="python", topic="programming"),
        item("py-2", skill="python", topic="programming", level=2),
        item("git-1", skill="git", topic="programming"),
        item("nego-1", skill="negotiation", topic="sales_craft"),
        item("nego-2", skill="negotiation", topic="sales_craft", level=2),
        item("lead-1", skill="leadership", topic="leadership"),
        item("new-viz", skill="data_visualization", age_days=2),
        item("future-viz", skill="data_visualization", age_days=-5),
        item("old-off", skill="sql", active=False),
    ]
}
PROFILE = {
    "learner_id": "ann",
    "role": "data_analyst",
    "department": "data",
    "team_id": "t1",
    "level": 1,
    "is_manager": False,
    "manager_id": "boss",
    "goals": [],
    "self_assessed_skills": {},
    "interests": [],
    "time_zone": "UTC",
}


def ctx_for(
    state: dict[str, Any] | None = None,
    profile: dict[str, Any] | None = None,
    paths: list[dict[str, Any]] | None = None,
    role_skills: dict[str, float] | None = None,
    pop: Popularity | None = None,
    **kw: Any,
) -> Context:
    st = state or new_state()
    prof = {**PROFILE, **(profile or {})}
    index = CatalogIndex(CATALOG, paths or [])
    return Context(
        st,
        prof,
        prof["learner_id"],
        index,
        pop or Popularity(),
        NOW,
        paths=paths,
        role_skills=role_skills or {},
        **kw,
    )


def path(
    pid: str, items: list[str], due_days: float | None = 3, by: str = "boss"
) -> dict[str, Any]:
    return {
        "path_id": pid,
        "title": f"Path {pid}",
        "assigned_by": by,
        "learner_ids": ["ann"],
        "team_ids": [],
        "active": True,
        "items": [
            {"content_id": c, "due_at_ms": None if due_days is None else NOW + int(due_days * DAY)}
            for c in items
        ],
    }


def run(source: Any, ctx: Context) -> dict[str, cand.Candidate]:
    pool: dict[str, cand.Candidate] = {}
    source(ctx, pool)
    return pool


# -- paths --------------------------------------------------------------------------------
def test_path_proposes_only_the_next_step_in_item_order() -> None:
    st = new_state()
    st["done"]["excel-1"] = NOW - DAY
    pool = run(cand.from_paths, ctx_for(st, paths=[path("p1", ["excel-1", "py-1", "git-1"])]))
    assert list(pool) == ["py-1"]
    kind, title, step, n, due, by_manager = pool["py-1"].evidence[0]
    assert (kind, title, step, n, by_manager) == ("path", "Path p1", 2, 3, True)
    assert due == NOW + 3 * DAY


def test_path_step_with_unmet_prerequisite_puts_the_prerequisite_first() -> None:
    # sql-3 needs sql-2 which needs sql-1: the learner must start at sql-1.
    pool = run(cand.from_paths, ctx_for(paths=[path("p1", ["sql-3", "py-1"])]))
    assert list(pool) == ["sql-1"]
    ev = pool["sql-1"].evidence[0]
    assert ev[0] == "prereq" and ev[2] == "Sql 3"


def test_path_skips_items_withdrawn_from_the_catalog_and_finished_paths() -> None:
    st = new_state()
    st["done"].update({"py-1": 1, "git-1": 1})
    pool = run(
        cand.from_paths,
        ctx_for(st, paths=[path("p1", ["gone", "py-2"]), path("p2", ["py-1", "git-1"])]),
    )
    assert list(pool) == ["py-2"]


def test_team_paths_are_found_through_the_catalog_index() -> None:
    team_path = {**path("tp", ["nego-1"]), "learner_ids": [], "team_ids": ["t1"]}
    index = CatalogIndex(CATALOG, [team_path, {**path("other", ["lead-1"]), "learner_ids": []}])
    ctx = Context(new_state(), PROFILE, "ann", index, Popularity(), NOW, role_skills={})
    assert set(ctx.path_next) == {"nego-1"}


# -- continue -----------------------------------------------------------------------------
def test_continue_offers_open_items_most_recent_first_even_unknown_to_the_catalog() -> None:
    st = new_state()
    st["prog"] = {"sql-1": [0.4, NOW - 3 * DAY], "tool-video-9": [0.2, NOW - DAY]}
    pool = run(cand.from_continue, ctx_for(st))
    assert list(pool) == ["tool-video-9", "sql-1"]
    assert pool["tool-video-9"].info is None
    assert pool["sql-1"].evidence[0] == ("continue", 0.4, NOW - 3 * DAY)


# -- skill gaps ---------------------------------------------------------------------------
def test_gaps_follow_role_needs_biggest_gap_first_at_the_right_level() -> None:
    prof = {"self_assessed_skills": {"sql": 0.45, "excel": 0.05}}
    ctx = ctx_for(profile=prof, role_skills={"sql": 0.8, "excel": 0.7, "git": 0.1})
    assert list(ctx.gaps) == ["excel", "sql"]  # git: the learner's level already covers it
    pool = run(cand.from_gaps, ctx)
    # excel at mastery 0.05 wants level 1; sql at 0.45 wants level 3 (sql-3 is locked
    # behind sql-2, so the next closest level is offered).
    assert [c for c in pool if c.startswith("excel")] == ["excel-1", "excel-2"]
    sql = [c for c in pool if c.startswith("sql")]
    assert sql and all(CATALOG[c]["level"] >= 2 for c in sql) and "sql-3" not in sql
    assert pool["excel-1"].evidence[0][:6] == ("gap", "excel", "role", 0.7, "self", 0.05)


def test_gap_evidence_prefers_the_last_quiz_score() -> None:
    st = new_state()
    st["ranker"]["q"] = {"sql": [40, NOW - DAY]}
    ctx = ctx_for(st, role_skills={"sql": 0.8})
    pool = run(cand.from_gaps, ctx)
    ev = next(iter(pool.values())).evidence[0]
    assert (ev[4], ev[5]) == ("quiz", 0.4)


def test_goals_count_as_gaps() -> None:
    ctx = ctx_for(profile={"goals": ["negotiation"]})
    pool = run(cand.from_gaps, ctx)
    assert "nego-1" in pool and pool["nego-1"].evidence[0][2] == "goal"


def test_a_skill_model_estimate_sets_the_level() -> None:
    ctx = ctx_for(role_skills={"sql": 0.95}, mastery=lambda s: 0.7 if s == "sql" else None)
    assert ctx.want_level("sql") == 4
    assert "sql-4" in run(cand.from_gaps, ctx)


# -- popularity, cluster, peers -----------------------------------------------------------
def test_popular_uses_the_learners_segment_and_falls_back_to_the_company() -> None:
    pop = Popularity()
    sales_mgr = segment_key({"department": "sales", "is_manager": True})
    for _ in range(3):
        pop.add([ALL, sales_mgr], "lead-1", NOW - DAY)
    pop.add([ALL], "py-1", NOW - DAY)
    manager = run(
        cand.from_popular, ctx_for(profile={"department": "sales", "is_manager": True}, pop=pop)
    )
    assert list(manager)[0] == "lead-1"
    assert manager["lead-1"].evidence[0] == ("popular", "sales", True)
    # An engineer's segment has no data yet: the whole company's favourites.
    engineer = run(cand.from_popular, ctx_for(profile={"department": "engineering"}, pop=pop))
    assert list(engineer) == ["lead-1", "py-1"]
    assert engineer["py-1"].evidence[0] == ("popular_all",)


def test_cluster_only_with_a_cluster_id() -> None:
    pop = Popularity()
    pop.add(["c:7"], "git-1", NOW - DAY)
    assert run(cand.from_cluster, ctx_for(pop=pop)) == {}
    assert list(run(cand.from_cluster, ctx_for(pop=pop, cluster=7))) == ["git-1"]


def test_peers_counts_distinct_teammates_this_week_not_the_learner() -> None:
    pop = Popularity()
    for who in ("bob", "cy", "bob", "dan", "eli", "fay"):  # 5 distinct teammates
        pop.add_team_completion("t1", "excel-1", who, NOW - DAY)
    for who in ("bob", "cy", "dan", "eli"):  # only 4: below k, never shown
        pop.add_team_completion("t1", "py-1", who, NOW - DAY)
    for who in ("ann", "bob", "cy", "dan"):  # 5 with the learner's own: still 4 peers
        pop.add_team_completion("t1", "viz-1", who, NOW - DAY)
    for who in ("bob", "cy", "dan", "eli", "fay"):
        pop.add_team_completion("t1", "git-1", who, NOW - 9 * DAY)  # older than a week
        pop.add_team_completion("t2", "lead-1", who, NOW - DAY)  # another team
    pool = run(cand.from_peers, ctx_for(pop=pop, peers={"nego-1": 6, "nego-2": 3}))
    assert {c: p.evidence[0] for c, p in pool.items()} == {
        "nego-1": ("peers", 6, "cluster"),
        "excel-1": ("peers", 5, "team"),
    }


# -- interest, fresh, niche ---------------------------------------------------------------
def test_interest_follows_recent_activity_before_stated_interests() -> None:
    st = new_state()
    st["ranker"].update({"af": {"programming": 1.0}, "as": {"programming": 1.0}})
    pop = Popularity()
    pop.add([topic_key("programming")], "py-2", NOW - DAY)
    ctx = ctx_for(st, profile={"interests": ["sales_craft"]}, pop=pop)
    assert ctx.top_topics() == [("programming", "recent"), ("sales_craft", "said")]
    pool = run(cand.from_interest, ctx)
    assert list(pool)[0] == "py-2"
    assert pool["py-2"].evidence[0] == ("interest", "programming", "recent")
    assert {"nego-1", "nego-2"} & set(pool)


def test_fresh_offers_recent_publications_never_unpublished_ones() -> None:
    pool = run(cand.from_fresh, ctx_for())
    assert list(pool) == ["new-viz"]
    assert pool["new-viz"].evidence[0] == ("fresh", 2)


def test_niche_offers_rarely_seen_items_of_the_main_topic_at_the_learners_level() -> None:
    pop = Popularity()
    for _ in range(5):
        pop.add([ALL], "nego-1", NOW - DAY)
    ctx = ctx_for(profile={"interests": ["sales_craft"]}, pop=pop)
    assert list(run(cand.from_niche, ctx)) == ["nego-2"]


# -- the pool ---------------------------------------------------------------------------------
def test_pool_never_holds_finished_locked_inactive_or_unpublished_items() -> None:
    st = new_state()
    st["done"]["excel-1"] = NOW - DAY
    pop = Popularity()
    for cid in CATALOG:
        pop.add([ALL, segment_key(PROFILE), topic_key("data")], cid, NOW - DAY)
    ctx = ctx_for(
        st, profile={"interests": ["data"]}, role_skills={"sql": 0.9, "excel": 0.9}, pop=pop
    )
    pool = generate(ctx)
    assert pool
    assert not {"excel-1", "sql-2", "sql-3", "old-off", "future-viz"} & set(pool)


def test_an_item_from_several_sources_keeps_all_evidence_main_source_first() -> None:
    pop = Popularity()
    pop.add([ALL, segment_key(PROFILE)], "py-1", NOW - DAY)
    ctx = ctx_for(paths=[path("p1", ["py-1"])], pop=pop)
    pool = generate(ctx)
    assert pool["py-1"].source == "path"
    assert [e[0] for e in pool["py-1"].evidence][:2] == ["path", "popular"]


def test_generate_runs_every_source_in_order() -> None:
    # generate() calls the sources one by one (direct calls when compiled): the
    # pool must be what running SOURCE_FUNCS in order gives, and that order SOURCES.
    names = [f.__name__ for f in cand.SOURCE_FUNCS]
    assert names == ["from_paths", "from_continue", "from_gaps"] + [
        f"from_{s}" for s in cand.SOURCES[3:]
    ]
    st = new_state()
    st["prog"]["py-1"] = [0.4, NOW - DAY]
    pop = Popularity()
    for i, cid in enumerate(CATALOG):
        pop.add([ALL, segment_key(PROFILE), topic_key("data")], cid, NOW - DAY * (i % 3))
    ctx = ctx_for(
        st,
        profile={"interests": ["data"]},
        paths=[path("p1", ["sql-1", "sql-2"])],
        role_skills={"sql": 0.9, "python": 0.8},
        pop=pop,
    )
    by_tuple: dict[str, cand.Candidate] = {}
    for fn in cand.SOURCE_FUNCS:
        fn(ctx, by_tuple)
    pool = generate(ctx)
    assert len(pool) > 3
    assert [(c, p.sources, p.evidence) for c, p in pool.items()] == [
        (c, p.sources, p.evidence) for c, p in by_tuple.items()
    ]


def test_doctests() -> None:
    import doctest

    assert doctest.testmod(cand).failed == 0
