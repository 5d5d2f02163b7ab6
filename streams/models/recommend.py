"""First recommender: continue in-progress content, then assigned paths, then role skills.

A walking skeleton of candidate generation + explanation; the ranked, learned
version lives in :mod:`streams.models.ranker` when present.
"""

from __future__ import annotations

from typing import Any

from streams.models.state import LearnerState

MODEL_VERSION = "rules-1"


def _item(content: dict[str, Any] | None, cid: str, score: float, source: str,
          reasons: list[str]) -> dict[str, Any]:
    return {"content_id": cid, "title": (content or {}).get("title", cid), "score": round(score, 4),
            "source": source, "reasons": reasons}


def recommend(state: LearnerState, catalog: dict[str, dict[str, Any]],
              paths: list[dict[str, Any]], role_skills: dict[str, float],
              k: int = 10) -> list[dict[str, Any]]:
    """Top-k items for one learner, each with reasons a learner understands.

    >>> from streams.models.state import new_state
    >>> s = new_state(); s["prog"]["c1"] = [0.4, 1]
    >>> cat = {"c1": {"title": "SQL basics", "skills": ["sql"], "level": 1}}
    >>> recommend(s, cat, [], {})[0]["reasons"]
    ['You are 40% through this; pick up where you left off']
    """
    out: list[dict[str, Any]] = []
    taken: set[str] = set(state["done"])

    def add(item: dict[str, Any]) -> None:
        if item["content_id"] not in taken and len(out) < k:
            taken.add(item["content_id"])
            out.append(item)

    for cid, (progress, _t) in sorted(state["prog"].items(), key=lambda kv: -kv[1][1]):
        pct = round(progress * 100)
        add(_item(catalog.get(cid), cid, 1.0 + progress, "continue",
                  [f"You are {pct}% through this; pick up where you left off"]))
    for path in paths:
        for it in path["items"]:
            if it["content_id"] not in state["done"]:
                add(_item(catalog.get(it["content_id"]), it["content_id"], 0.9, "path",
                          [f"Next step of \"{path.get('title') or path['path_id']}\", "
                           "assigned by your manager"]))
                break
    level = int((state.get("profile") or {}).get("level", 1))
    role = (state.get("profile") or {}).get("role", "")
    for skill in sorted(role_skills, key=lambda s: -role_skills[s]):
        for cid, c in sorted(catalog.items()):
            if skill in c.get("skills", ()) and abs(int(c.get("level", 1)) - level) <= 1:
                add(_item(c, cid, 0.5, "gap", [f"Builds {skill}, a skill your role ({role}) needs"]))
                break
    return out
