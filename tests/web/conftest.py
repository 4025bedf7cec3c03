from web.opsfixtures import demo_store, ops_config

__all__ = ["demo_store", "ops_config"]
