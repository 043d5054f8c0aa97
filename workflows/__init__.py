"""Example workflows that invoke Lambda functions through ``temporal_lambda``.

Every module here is sandbox-safe: it imports only ``temporalio``, ``temporal_lambda``
(its types and :mod:`temporal_lambda.workflow`) and the standard library.
"""

from workflows.fan_out import FanOutInput, FanOutResult, FanOutWorkflow
from workflows.notify import NotifyInput, NotifyResult, NotifyWorkflow
from workflows.order_saga import OrderInput, OrderItem, OrderResult, OrderSaga, StepFailure
from workflows.report import ReportInput, ReportResult, ReportWorkflow

ALL_WORKFLOWS: list[type] = [OrderSaga, FanOutWorkflow, NotifyWorkflow, ReportWorkflow]
"""Every example workflow, for ``Worker(workflows=ALL_WORKFLOWS)``."""

__all__ = [
    "ALL_WORKFLOWS",
    "FanOutInput",
    "FanOutResult",
    "FanOutWorkflow",
    "NotifyInput",
    "NotifyResult",
    "NotifyWorkflow",
    "OrderInput",
    "OrderItem",
    "OrderResult",
    "OrderSaga",
    "ReportInput",
    "ReportResult",
    "ReportWorkflow",
    "StepFailure",
]
