"""Every alert's runbook annotation points at a section of docs/operations.md."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"


def anchors(markdown: str) -> set[str]:
    """GitHub-style heading anchors: lower case, punctuation dropped, spaces to dashes."""
    out = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*$", markdown, re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        out.add(slug)
    return out


def test_runbook_links_resolve() -> None:
    doc = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    alerts = [r for g in doc["groups"] for r in g["rules"] if "alert" in r]
    ops = (ROOT / "docs" / "operations.md").read_text()
    have = anchors(ops)
    for alert in alerts:
        path, _, anchor = alert["annotations"]["runbook"].partition("#")
        assert path == "docs/operations.md", alert["alert"]
        assert anchor == alert["alert"].lower(), alert["alert"]
        assert anchor in have, f"no section '## {alert['alert']}' in docs/operations.md"


def test_every_runbook_says_what_to_check_and_do() -> None:
    ops = (ROOT / "docs" / "operations.md").read_text()
    doc = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    for rule in (r for g in doc["groups"] for r in g["rules"] if "alert" in r):
        section = ops.split(f"### {rule['alert']}\n", 1)[1].split("\n### ", 1)[0]
        for part in ("Meaning", "Check", "Act"):
            assert f"**{part}**" in section, f"{rule['alert']}: no **{part}**"
