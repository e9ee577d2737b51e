"""Service requests (业务申请) as workflows: request types as data, the guards that refuse a step, due dates.

    _names   the Chinese and English names of steps, roles and documents
    _types   request types and their versions, parsed from rules/service-requests.toml; a step's due date
    _guards  the named guards and the order in which a step is checked
    _files   what an uploaded document may be (PDF, JPEG, PNG), told by its first bytes
"""
from gridcounter.domain.service._files import DOCUMENT_TYPES, HEAD_BYTES, DocumentType, sniff_document_type
from gridcounter.domain.service._guards import GUARDS, Doer, Refusal, RequestFacts, check_step
from gridcounter.domain.service._names import (
    DOCUMENT_NAMES,
    ROLE_NAMES,
    STEP_NAMES,
    document_name,
    role_name,
    step_name,
)
from gridcounter.domain.service._types import (
    RequestType,
    RequestTypeCatalogue,
    RequestTypesError,
    Step,
    UnknownRequestType,
    catalogue_from_mapping,
)

__all__ = [
    "DOCUMENT_NAMES",
    "DOCUMENT_TYPES",
    "GUARDS",
    "HEAD_BYTES",
    "ROLE_NAMES",
    "STEP_NAMES",
    "Doer",
    "DocumentType",
    "Refusal",
    "RequestFacts",
    "RequestType",
    "RequestTypeCatalogue",
    "RequestTypesError",
    "Step",
    "UnknownRequestType",
    "catalogue_from_mapping",
    "check_step",
    "document_name",
    "role_name",
    "sniff_document_type",
    "step_name",
]
