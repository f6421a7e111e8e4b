"""README.md: every in-page link (``[text](#anchor)``) leads to a heading, with GitHub's
anchors (lower case, punctuation dropped, spaces to hyphens), and the contents list names
every section."""

import re

from conftest import REPO

README = (REPO / "README.md").read_text()


def _headings(markdown: str, levels: str = "#{1,6}") -> list:
    """Anchors of the headings of ``markdown`` (outside code blocks) at ``levels``."""
    anchors, in_code = [], False
    for line in markdown.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and re.match(levels + " ", line):
            title = line.lstrip("#").strip().lower()
            anchors.append(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return anchors


def _links(markdown: str) -> list:
    return re.findall(r"\]\(#([^)]+)\)", markdown)


def test_every_in_page_link_has_its_heading():
    missing = sorted(set(_links(README)) - set(_headings(README)))
    assert not missing, f"README links to headings that do not exist: {missing}"


def test_the_contents_list_every_section():
    start = README.index("**Contents.**")
    contents = README[start:README.index("\n\n", start)]
    unlisted = [a for a in _headings(README, "##") if a not in _links(contents)]
    assert not unlisted, f"sections missing from README's contents: {unlisted}"
