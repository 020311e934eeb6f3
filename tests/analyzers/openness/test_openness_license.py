"""Which license the openness grades rest on, from license identification's statements."""

from __future__ import annotations

from openness_builders import LLAMA31_ID, LLAMA31_NAME, OSD5, OSD6, match

from seewhy.analyzers.license.model import ClauseTag, Location, ReleaseLicenses
from seewhy.analyzers.openness.licensing import release_license, restriction_summary

THRESHOLD = ClauseTag(
    "user_threshold",
    "is greater than 700 million monthly active users in the preceding calendar month",
    Location("LICENSE", 32),
    OSD5,
)
AUP = ClauseTag(
    "use_policy_by_reference",
    "which is hereby incorporated by reference",
    Location("LICENSE", 30),
    OSD6,
)
ATTRIBUTION = ClauseTag("attribution_display", "Built with Llama", Location("LICENSE", 24), None)


def test_apache_is_open_and_osi() -> None:
    lic = release_license(ReleaseLicenses((match("Apache-2.0", osi=True),)))
    assert lic.state == "open"
    assert lic.osi and lic.mot_open
    assert lic.display == "Apache-2.0"
    assert lic.mot_name == "Apache-2.0"
    assert lic.link == "LICENSE"


def test_hub_spelling_is_canonicalised() -> None:
    lic = release_license(ReleaseLicenses((match("apache-2.0", source="card-license"),)))
    assert lic.state == "open"
    assert lic.mot_name == "Apache-2.0"


def test_llama_is_restricted_with_its_clauses() -> None:
    llama = match(LLAMA31_ID, name=LLAMA31_NAME, tags=(THRESHOLD, AUP, ATTRIBUTION), osi=False)
    lic = release_license(ReleaseLicenses((llama,)))
    assert lic.state == "restricted"
    assert [t.tag for t in lic.restrictions] == ["user_threshold", "use_policy_by_reference"]
    assert lic.display == LLAMA31_NAME
    assert lic.mot_name == LLAMA31_ID
    assert restriction_summary(lic.restrictions) == (
        "700M-user threshold and acceptable-use policy (OSD 5, 6)"
    )
    notes = [e.note for e in lic.evidence()]
    assert any(n and "OSD 5" in n for n in notes)


def test_the_least_open_statement_is_graded() -> None:
    card = match("Apache-2.0", source="card-license", path="README.md", line=3)
    text = match(LLAMA31_ID, name=LLAMA31_NAME, tags=(THRESHOLD,))
    lic = release_license(ReleaseLicenses((card, text)))
    assert lic.primary is text
    assert lic.state == "restricted"
    assert lic.others == ("Apache-2.0",)


def test_no_statement_and_unidentified_statement() -> None:
    assert release_license(ReleaseLicenses(())).state == "none"
    lic = release_license(ReleaseLicenses((match(None, name=None),)))
    assert lic.state == "unidentified"
    assert lic.primary is None
    assert lic.evidence()[0].path == "LICENSE"


def test_low_confidence_and_body_mentions_are_not_graded() -> None:
    weak = match("MIT", confidence=0.2)
    assert release_license(ReleaseLicenses((weak,))).state == "none"
    body = match("Gemma", source="card-body", path="README.md")
    apache = match("Apache-2.0")
    assert release_license(ReleaseLicenses((body, apache))).primary is apache


def test_custom_license_without_tags_is_not_open() -> None:
    lic = release_license(ReleaseLicenses((match("LicenseRef-custom", name="Custom"),)))
    assert lic.state == "not-open"
    assert not lic.osi


def test_open_data_license_is_open_not_osi() -> None:
    lic = release_license(ReleaseLicenses((match("CC-BY-4.0"),)))
    assert lic.state == "open"
    assert not lic.osi


def test_use_policy_alone_restricts() -> None:
    policy = match(
        None,
        name="Llama 3.1 Acceptable Use Policy",
        kind="use-policy",
        path="USE_POLICY.md",
        tags=(
            ClauseTag(
                "prohibited_uses", "You agree you will not use", Location("USE_POLICY.md", 5), OSD6
            ),
        ),
    )
    lic = release_license(ReleaseLicenses((policy,)))
    assert lic.state == "restricted"
    assert lic.mot_name is None
    assert restriction_summary(lic.restrictions) == "prohibited uses (OSD 6)"


def test_policies_join_a_license_that_references_them() -> None:
    llama = match(LLAMA31_ID, name=LLAMA31_NAME, tags=(AUP,))
    policy = match(
        None,
        kind="use-policy",
        path="USE_POLICY.md",
        tags=(ClauseTag("prohibited_uses", "not use", Location("USE_POLICY.md", 5), None),),
    )
    lic = release_license(ReleaseLicenses((llama, policy)))
    assert [t.tag for t in lic.restrictions] == ["use_policy_by_reference", "prohibited_uses"]


def test_summary_numbers_and_limits() -> None:
    revenue = ClauseTag(
        "revenue_threshold", "more than USD $1,000,000 in annual revenue", Location("L", 1), None
    )
    assert restriction_summary([revenue]) == "1M revenue threshold"
    tags = [
        ClauseTag(t, "q", Location("L", 1), None)
        for t in ("non_commercial", "research_only", "military_ban", "revocable")
    ]
    assert restriction_summary(tags) == (
        "non-commercial only, research only, military-use ban and 1 more"
    )
    assert restriction_summary([]) == ""
