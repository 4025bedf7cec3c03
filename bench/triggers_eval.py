"""CEL evaluations per second: 50 trigger rules over 100,000 changes (pure engine, no store).

    .venv/bin/python bench/triggers_eval.py [--changes 100000] [--rules 50]

Prints three figures:
- ``cel``: the compiled programs alone (``Program.execute`` on one reused ``cel.Context``,
  variables bound once per change, as the engine does);
- ``engine``: ``Evaluator.decide`` end to end (binding, on_true edge checks, decisions);
- ``bind``: what binding one change's variables into the context costs.
The rules all watch deal_registration, so every change is evaluated by all 50 (the worst case).
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from connector.mapping import load_mapping
from connector.triggers import loads_triggers
from connector.triggers.engine import Change, Evaluator, Facts

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)

CONDITIONS = (
    "new.status == 'Submitted' && partner.status == 'Active'",
    "new.amount > {n}.0",
    "new.amount <= {n}.0 && partner.certifications >= {k}",
    "partner.tier_rank >= {k}.0 && !conflict",
    "new.product == 'Analytics' || new.amount > {n}.0",
    "partner.closed_won_this_quarter > {n}.0 && new.status != 'Rejected'",
    "new.status in ['Submitted', 'Pending Review'] && partner.points < {n}.0",
    "old != null && old.status != new.status",
    "new.registered_date < now",
    "partner.active_registrations > {k} && new.amount >= {n}.0",
)
STATUSES = ("Submitted", "Pending Review", "Approved", "Rejected")
PRODUCTS = ("Analytics", "Platform", "Services")


def rules_yaml(count: int) -> str:
    """``count`` rules on deal_registration, mixing conditions, modes and scopes."""
    out = ["triggers:"]
    for i in range(count):
        when = CONDITIONS[i % len(CONDITIONS)].format(n=1000 * (i + 1), k=i % 4)
        mode = "on_true" if i % 2 else "every_time"
        scope = "\n    scope: new.amount != null" if i % 5 == 0 else ""
        out.append(f"""  - id: rule-{i}
    entity: deal_registration
    on: [created, updated]{scope}
    when: "{when}"
    mode: {mode}
    actions: [{{award_points: {{points: 1}}}}]""")
    return "\n".join(out) + "\n"


def make_changes(n: int, partners: int, seed: int = 7) -> list[tuple[Change, Facts]]:
    """Random registration updates with their partner facts (cached maps, as in a batch)."""
    rng = random.Random(seed)
    facts = [
        {
            "status": rng.choice(("Active", "Onboarding", "Inactive")),
            "certifications": rng.randrange(0, 5), "tier_rank": float(rng.randrange(1, 5)),
            "closed_won_this_quarter": float(rng.randrange(0, 10**6)),
            "points": float(rng.randrange(0, 5000)), "active_registrations": rng.randrange(0, 9),
        }
        for _ in range(partners)
    ]
    out = []
    for i in range(n):
        def record() -> dict[str, Any]:
            return {
                "status": rng.choice(STATUSES), "amount": float(rng.randrange(100, 300000)),
                "product": rng.choice(PRODUCTS),
                "registered_date": (NOW - timedelta(days=rng.randrange(0, 60))).date(),
            }
        new, old = record(), record() if i % 3 else None
        op = "updated" if old is not None else "created"
        change = Change("deal_registration", op, i, f"a0{i:016d}", new, old, f"v{i}")
        out.append((change, Facts(facts[i % partners], rng.random() < 0.1)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=100_000)
    parser.add_argument("--rules", type=int, default=50)
    args = parser.parse_args()
    spec = load_mapping(ROOT / "config" / "mapping.yaml")
    ruleset = loads_triggers(rules_yaml(args.rules), spec)
    rules = ruleset.rules
    functions = ruleset.env.callables()  # the partner layer's CEL functions
    changes = make_changes(args.changes, partners=500)

    evaluator = Evaluator(rules, NOW, functions)
    start = time.perf_counter()
    for change, facts in changes:
        evaluator._bind(change, facts)
    bind = time.perf_counter() - start

    programs = [r.when.program for r in rules]
    ctx = evaluator.current
    evals = 0
    start = time.perf_counter()
    for change, facts in changes:
        evaluator._bind(change, facts)
        for p in programs:
            p.execute(ctx)
            evals += 1
    cel_total = time.perf_counter() - start
    cel_only = cel_total - bind

    evaluator = Evaluator(rules, NOW, functions, keep_all=False)  # as the consumer
    decisions = 0
    start = time.perf_counter()
    for change, facts in changes:
        decisions += len(evaluator.decide(rules, change, facts))
    engine = time.perf_counter() - start

    print(f"rules={len(rules)} changes={len(changes)}")
    print(f"cel:    {evals / cel_only:>12,.0f} evaluations/s  (compiled programs, context bound "
          f"per change; {evals:,} evaluations in {cel_only:.2f} s)")
    print(f"cel+bind: {evals / cel_total:>10,.0f} evaluations/s  (including binding)")
    print(f"engine: {evaluator.evaluations / engine:>12,.0f} evaluations/s  (Evaluator.decide: "
          f"{evaluator.evaluations:,} evaluations, {decisions:,} decisions in {engine:.2f} s)")
    print(f"bind:   {len(changes) / bind:>12,.0f} changes/s  "
          f"({1e6 * bind / len(changes):.1f} us per change)")


if __name__ == "__main__":
    main()
