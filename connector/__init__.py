"""prm-connector: keeps a PRM store in sync with Salesforce, both ways."""

__version__ = "0.1.0"
