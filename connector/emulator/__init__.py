"""A local Salesforce org over HTTPS. Imports nothing from the rest of ``connector``."""
