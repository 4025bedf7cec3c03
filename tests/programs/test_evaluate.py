"""Pure evaluation: segments, track progress, prerequisites, tiers by region, eligibility."""

from __future__ import annotations

from typing import Any

import pytest

from connector.programs import ProgramsSpec, loads_programs
from connector.programs.celexpr import (
    compile_predicate,
    evaluate_many,
    evaluate_predicate,
    prepare_predicate,
    sample_partner,
)
from connector.programs.evaluate import (
    blocked_reason,
    eligible_incentives,
    is_open_to,
    segments_for,
    tier_for,
    track_progress,
)


def _partner(
    spec: ProgramsSpec, done: frozenset[str] | set[str] = frozenset(), **facts: Any
) -> dict[str, Any]:
    p = sample_partner(tuple(spec.tracks))
    p.update(facts)
    for tid, t in spec.tracks.items():
        p["tracks"][tid] = track_progress(spec, t, done, enrolled=False).as_fact()
    return p


def test_a_partner_is_in_the_segments_whose_predicate_holds(default_spec: ProgramsSpec) -> None:
    """EMEA growth needs an EMEA country, two cloud certifications and 250k trailing."""
    p = _partner(default_spec, country="Germany", closed_won_trailing_4q=300000.0,
                 certification_names=["Cloud Fundamentals", "Cloud Architect"])
    assert segments_for(default_spec, p) == (["emea-cloud-growth"], {})
    p["country"] = "Brazil"
    assert segments_for(default_spec, p) == ([], {})


def test_certifications_in_a_track_count_completed_certification_steps(
    default_spec: ProgramsSpec,
) -> None:
    """cloud-certified holds once both certification steps of cloud-technical are done."""
    p = _partner(default_spec, {"cloud-fundamentals", "cloud-architect"})
    assert "cloud-certified" in segments_for(default_spec, p)[0]
    assert p["tracks"]["cloud-technical"]["certifications"] == 2


def test_a_predicate_failing_on_a_partners_values_is_reported_not_raised() -> None:
    """A null country makes startsWith fail: that partner is outside, with the error given."""
    spec = loads_programs("segments:\n  u: {when: \"partner.country.startsWith('U')\"}\n")
    inside, errors = segments_for(spec, {**sample_partner(), "country": None})
    assert inside == [] and "u" in errors


def test_track_progress_counts_steps_and_names_the_next_one(default_spec: ProgramsSpec) -> None:
    """One of three reseller steps: 33.3 percent, in progress, next step sales 101."""
    t = default_spec.tracks["reseller-onboarding"]
    p = track_progress(default_spec, t, {"reseller-agreement"}, enrolled=True)
    assert (p.status, p.percent, p.next_step, p.blocked) == (
        "in_progress", 33.3, "reseller-sales-101", None)
    assert track_progress(default_spec, t, set(), enrolled=False).status == "not_enrolled"
    full = track_progress(default_spec, t, {s.id for s in t.steps}, enrolled=True)
    assert full.completed and full.percent == 100.0


def test_a_step_out_of_order_is_blocked_with_the_reason(default_spec: ProgramsSpec) -> None:
    """Architect waits for fundamentals; sales waits for the whole technical track."""
    assert "cloud-fundamentals" in (blocked_reason(default_spec, "cloud-architect", set()) or "")
    why = blocked_reason(default_spec, "cloud-solution-selling", {"cloud-fundamentals"})
    assert why is not None and "track 'cloud-technical'" in why and "1 step(s) left" in why
    done = {"cloud-fundamentals", "cloud-architect"}
    assert blocked_reason(default_spec, "cloud-solution-selling", done) is None


def test_a_sequential_track_orders_its_steps(default_spec: ProgramsSpec) -> None:
    """MSP onboarding is sequential: operating training waits for the agreement."""
    why = blocked_reason(default_spec, "msp-ops-training", set())
    assert why is not None and "msp-agreement" in why and "comes first" in why
    assert blocked_reason(default_spec, "msp-ops-training", {"msp-agreement"}) is None


def test_tracks_are_open_to_their_partner_types_or_segments(default_spec: ProgramsSpec) -> None:
    """Reseller onboarding is for resellers and distributors; the technical track for all."""
    tracks = default_spec.tracks
    assert is_open_to(tracks["reseller-onboarding"], {"type": "Distributor"})
    assert not is_open_to(tracks["reseller-onboarding"], {"type": "MSP"})
    assert is_open_to(tracks["cloud-technical"], {"type": None})
    spec = loads_programs(
        "segments:\n  vip: {when: 'partner.points > 5'}\nprograms:\n  p:\n    name: P\n"
        "    tracks:\n      t:\n        open_to: {segments: [vip]}\n"
        "        steps: [{id: s, kind: task}]\n")
    assert is_open_to(spec.tracks["t"], {"segments": ["vip"]})
    assert not is_open_to(spec.tracks["t"], {"segments": []})


def test_same_figures_give_different_tiers_by_region(default_spec: ProgramsSpec) -> None:
    """Brazil's variant sets Gold at 100k trailing revenue; Germany needs 250k."""
    ladder = default_spec.programs["partner-network"].ladder
    assert ladder is not None
    done = {"cloud-fundamentals", "cloud-architect"}
    figures = {"points": 1600, "certifications": 2, "closed_won_trailing_4q": 150000.0}
    brazil = tier_for(ladder, _partner(default_spec, done, country="Brazil", **figures))
    germany = tier_for(ladder, _partner(default_spec, done, country="Germany", **figures))
    assert (brazil.level, brazil.variant) == ("Gold", "emerging-markets")
    assert (germany.level, germany.variant) == ("Silver", None)
    assert "Gold needs closed_won_trailing_4q >= 250000 (has 150000)" in germany.why()


def test_no_level_met_gives_no_tier_and_a_full_ladder_says_top() -> None:
    """A ladder whose first level has criteria can leave a partner without a tier."""
    spec = loads_programs(
        "programs:\n  p:\n    name: P\n    ladder:\n      levels:\n"
        "        Registered: {min: {points: 10}}\n        Silver: {min: {points: 100}}\n")
    ladder = spec.programs["p"].ladder
    assert ladder is not None
    assert tier_for(ladder, {"points": 5}).level is None
    top = tier_for(ladder, {"points": 500})
    assert (top.level, top.rank) == ("Silver", 2) and "top of the ladder" in top.why()


def test_incentives_need_their_segment_and_tier(default_spec: ProgramsSpec) -> None:
    """The cloud launch MDF needs cloud-certified and Silver; the spiff is for resellers."""
    ladder = default_spec.programs["partner-network"].ladder
    assert ladder is not None
    done = {"cloud-fundamentals", "cloud-architect"}
    p = _partner(default_spec, done, type="Reseller", points=600, segments=["cloud-certified"])
    tiers = {"partner-network": tier_for(ladder, p)}
    got = {e.incentive.id: e for e in eligible_incentives(default_spec, p, tiers)}
    assert got["cloud-launch-mdf"].eligible
    assert got["first-deal-spiff"].eligible
    assert not got["emea-growth-rebate"].eligible
    assert "emea-cloud-growth" in got["emea-growth-rebate"].why
    p2 = {**p, "points": 100, "type": "MSP"}
    tiers2 = {"partner-network": tier_for(ladder, p2)}
    got2 = {e.incentive.id: e for e in eligible_incentives(default_spec, p2, tiers2)}
    assert not got2["cloud-launch-mdf"].eligible
    assert "below Silver" in got2["cloud-launch-mdf"].why
    assert not got2["first-deal-spiff"].eligible


PARTNERS: dict[int, dict[str, Any]] = {
    1: {"country": "Germany", "closed_won_trailing_4q": 300000.0, "name": "partner 1",
        "track_certifications": {"cloud-technical": 2},
        "certification_names": ["Cloud Fundamentals", "Cloud Architect"]},
    2: {"country": "Germany", "closed_won_trailing_4q": 300000.0, "name": "partner 2",
        "track_certifications": {}, "certification_names": ["Cloud Architect"]},
    3: {"country": None, "closed_won_trailing_4q": 0.0, "name": "partner 3",
        "track_certifications": {}, "certification_names": []},
    4: {"country": "Germany", "closed_won_trailing_4q": 300000.0, "name": "partner 4",
        "track_certifications": {"cloud-technical": 2},
        "certification_names": ["Cloud Fundamentals", "Cloud Architect"]},
}


@pytest.mark.parametrize("source", [
    "partner.country in ['Germany'] && partner.certifications_in('cloud') >= 2",
    'partner.certifications_in("cloud-technical") >= 2 && partner.certifications_in("cloud") > 0',
    "partner.certifications_in(partner.name) == 0 && partner.certifications_in('cloud') >= 1",
    "partner.name != \"partner.certifications_in('cloud')\" && partner.country.startsWith('G')",
])
def test_a_prepared_predicate_gives_what_plain_evaluation_gives(source: str) -> None:
    """Literal certifications_in calls computed beforehand, equal partners evaluated once, a
    call inside a string left as text, a partner whose values raise reported on its own: the
    same answer per partner as evaluating the expression on each partner's full facts."""
    pred = prepare_predicate(source)
    program = compile_predicate(source)
    got = evaluate_many(pred, PARTNERS)
    for pid, partner in PARTNERS.items():
        try:
            want: Any = evaluate_predicate(program, partner)
        except Exception as err:  # the CEL runtime error this partner's values raise
            want = type(err)
        assert (type(got[pid]) if isinstance(got[pid], Exception) else got[pid]) == want, pid


def test_literal_calls_become_scalars_so_cel_reads_no_list() -> None:
    """The default EMEA segment reads the country, revenue and one number per partner."""
    pred = prepare_predicate(
        "partner.country in ['Germany'] && partner.certifications_in('cloud') >= 2"
        " && partner.certifications_in('cloud') < 5")
    assert pred.calls == (("_ci0", "cloud"),)
    assert pred.refs == ("country",)
    assert pred.inputs(PARTNERS[2]) == {"country": "Germany", "_ci0": 1}
    assert {"track_certifications", "certification_names"} <= pred.needs


def test_tiers_and_min_tier_follow_the_level_tables_ranks(default_spec: ProgramsSpec) -> None:
    """With the store's ranks (`level_ranks`), a ladder's tier carries the level table's rank
    (as the `tier_rank` fact does) and `min_tier` compares by it: an org whose Gold ranks
    below Silver makes a Silver partner eligible for a Gold incentive. Without ranks (levels
    not synced yet) the default org's ranks apply."""
    ladder = default_spec.programs["partner-network"].ladder
    assert ladder is not None
    p = _partner(default_spec, {"cloud-fundamentals", "cloud-architect"}, type="Reseller",
                 points=600, segments=["cloud-certified"])
    ranks = {"Registered": 10.0, "Silver": 30.0, "Gold": 20.0, "Platinum": 40.0}
    tier = tier_for(ladder, p, ranks)
    assert (tier.level, tier.rank) == ("Silver", 30.0)
    assert tier_for(ladder, p).rank == 2
    gold_only = loads_programs(
        "programs:\n  partner-network:\n    name: P\n    ladder:\n      levels:\n"
        "        Registered: {}\n        Silver: {min: {points: 500}}\n"
        "        Gold: {min: {points: 100000}}\n"
        "incentives:\n  gold-mdf:\n    name: Gold MDF\n    kind: mdf\n"
        "    program: partner-network\n    amount: 100\n    eligible: {min_tier: Gold}\n")
    tiers = {"partner-network": tier}
    [by_store] = eligible_incentives(gold_only, p, tiers, ranks)
    [by_default] = eligible_incentives(gold_only, p, {"partner-network": tier_for(ladder, p)})
    assert by_store.eligible and not by_default.eligible
