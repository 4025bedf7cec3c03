"""prm-connector: a PRM store kept in sync with Salesforce, both ways, with partner triggers."""

__version__ = "0.1.0"
