"""The asktell Python client.

```python
from asktell.client import Client

with Client("127.0.0.1:50051") as client:
    study = client.create_study(spec)          # the spec file's dict
    while (trial := study.ask()) is not None:
        with trial:                            # FAILED with the reason if the block raises
            trial.tell(train(**trial.params))
    print(study.best_trial)
```

`Client` has every call of the API, by study id; `Study` and `Trial` are handles
that call it. Command lines of their own take the `asktell` connection options
from `asktell.client.cli_options`.
"""

from __future__ import annotations

from asktell.client._client import (
    DEFAULT_TIMEOUT,
    Client,
    ImportResult,
    SkippedTrial,
    Study,
    WarmStartResult,
    default_worker_id,
)
from asktell.client._errors import (
    AbortedError,
    AlreadyExistsError,
    AsktellError,
    CancelledError,
    DeadlineExceededError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    RetryableError,
    UnauthenticatedError,
    UnavailableError,
)
from asktell.client._export import read_parquet
from asktell.client._models import StudyInfo, Trial, TrialCounts, failure_reason
from asktell.client._spec import spec_from_proto, spec_to_proto

__all__ = [
    "DEFAULT_TIMEOUT",
    "AbortedError",
    "AlreadyExistsError",
    "AsktellError",
    "CancelledError",
    "Client",
    "DeadlineExceededError",
    "FailedPreconditionError",
    "ImportResult",
    "InvalidArgumentError",
    "NotFoundError",
    "PermissionDeniedError",
    "RetryableError",
    "SkippedTrial",
    "Study",
    "StudyInfo",
    "Trial",
    "TrialCounts",
    "UnauthenticatedError",
    "UnavailableError",
    "WarmStartResult",
    "default_worker_id",
    "failure_reason",
    "read_parquet",
    "spec_from_proto",
    "spec_to_proto",
]
