"""prm-connector: keeps a local PRM store in sync with Salesforce and logs every change."""

__version__ = "0.1.0"
