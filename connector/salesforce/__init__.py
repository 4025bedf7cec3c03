"""The connector's only door to Salesforce: OAuth, REST, Collections, Bulk API 2.0.

Nothing outside this package (and ``connector.emulator``) imports simple_salesforce or requests.
"""

from connector.salesforce.auth import Authenticator, Token, build_jwt_assertion
from connector.salesforce.budget import ApiUsage, BudgetGuard, parse_limit_info
from connector.salesforce.client import COLLECTION_SIZE, CollectionOp, SalesforceClient, connect
from connector.salesforce.errors import (
    ApiBudgetExhausted,
    ApiLimitExceeded,
    ApiUnavailable,
    AuthFailed,
    BadRequest,
    ErrorAction,
    QueryTimeout,
    RecordRejected,
    SalesforceApiError,
    SessionExpired,
    classify,
    explain,
    scrub,
    scrub_event,
)
from connector.salesforce.results import DeletedResult, RecordError, RecordResult
from connector.salesforce.retry import parse_retry_after, retry_policy
from connector.salesforce.transport import translate

__all__ = [
    "COLLECTION_SIZE",
    "ApiBudgetExhausted",
    "ApiLimitExceeded",
    "ApiUnavailable",
    "ApiUsage",
    "AuthFailed",
    "Authenticator",
    "BadRequest",
    "BudgetGuard",
    "CollectionOp",
    "DeletedResult",
    "ErrorAction",
    "QueryTimeout",
    "RecordError",
    "RecordRejected",
    "RecordResult",
    "SalesforceApiError",
    "SalesforceClient",
    "SessionExpired",
    "Token",
    "build_jwt_assertion",
    "classify",
    "connect",
    "explain",
    "parse_limit_info",
    "parse_retry_after",
    "retry_policy",
    "scrub",
    "scrub_event",
    "translate",
]
