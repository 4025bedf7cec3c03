"""The partner layer below programs and triggers: facts, CEL, the fiscal calendar, actions.

- ``facts``: one catalogue (each fact one meaning) and one batched engine;
- ``cel``: compile with bounds and a cost estimate, evaluate within a budget;
- ``fiscal``: fiscal quarters;
- ``actions``: what an action is, and the tier moves rules and ladders share;
- ``points``: the points ledger;
- ``env``: the rule environment a runtime builds once (``RuleEnv``, ``Extension``).

It imports neither programs nor triggers (``tests/test_boundaries.py``).
"""
