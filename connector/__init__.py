"""prm-connector: a PRM store kept in sync with Salesforce, both ways, with partner triggers."""

from connector.celimport import defer_cel_shell

__version__ = "0.1.0"

defer_cel_shell()
