from dockyard.api import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ResolveRequest(_message.Message):
    __slots__ = ("reference", "options")
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    reference: str
    options: RegistryOptions
    def __init__(self, reference: _Optional[str] = ..., options: _Optional[_Union[RegistryOptions, _Mapping]] = ...) -> None: ...

class ResolveResponse(_message.Message):
    __slots__ = ("target", "document", "config")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    target: _common_pb2.Descriptor
    document: bytes
    config: bytes
    def __init__(self, target: _Optional[_Union[_common_pb2.Descriptor, _Mapping]] = ..., document: _Optional[bytes] = ..., config: _Optional[bytes] = ...) -> None: ...

class SearchRequest(_message.Message):
    __slots__ = ("registry", "term", "limit", "options")
    REGISTRY_FIELD_NUMBER: _ClassVar[int]
    TERM_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    registry: str
    term: str
    limit: int
    options: RegistryOptions
    def __init__(self, registry: _Optional[str] = ..., term: _Optional[str] = ..., limit: _Optional[int] = ..., options: _Optional[_Union[RegistryOptions, _Mapping]] = ...) -> None: ...

class SearchResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: bytes
    def __init__(self, results: _Optional[bytes] = ...) -> None: ...

class RegistryAuth(_message.Message):
    __slots__ = ("username", "password", "identity_token", "registry_token")
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_TOKEN_FIELD_NUMBER: _ClassVar[int]
    REGISTRY_TOKEN_FIELD_NUMBER: _ClassVar[int]
    username: str
    password: str
    identity_token: str
    registry_token: str
    def __init__(self, username: _Optional[str] = ..., password: _Optional[str] = ..., identity_token: _Optional[str] = ..., registry_token: _Optional[str] = ...) -> None: ...

class RegistryOptions(_message.Message):
    __slots__ = ("auth", "insecure", "mirrors")
    AUTH_FIELD_NUMBER: _ClassVar[int]
    INSECURE_FIELD_NUMBER: _ClassVar[int]
    MIRRORS_FIELD_NUMBER: _ClassVar[int]
    auth: RegistryAuth
    insecure: _containers.RepeatedScalarFieldContainer[str]
    mirrors: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, auth: _Optional[_Union[RegistryAuth, _Mapping]] = ..., insecure: _Optional[_Iterable[str]] = ..., mirrors: _Optional[_Iterable[str]] = ...) -> None: ...

class PullRequest(_message.Message):
    __slots__ = ("reference", "platform", "options", "unpack", "labels", "dangling_prefix")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    UNPACK_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    DANGLING_PREFIX_FIELD_NUMBER: _ClassVar[int]
    reference: str
    platform: str
    options: RegistryOptions
    unpack: bool
    labels: _containers.ScalarMap[str, str]
    dangling_prefix: str
    def __init__(self, reference: _Optional[str] = ..., platform: _Optional[str] = ..., options: _Optional[_Union[RegistryOptions, _Mapping]] = ..., unpack: _Optional[bool] = ..., labels: _Optional[_Mapping[str, str]] = ..., dangling_prefix: _Optional[str] = ...) -> None: ...

class PushRequest(_message.Message):
    __slots__ = ("name", "reference", "options")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    name: str
    reference: str
    options: RegistryOptions
    def __init__(self, name: _Optional[str] = ..., reference: _Optional[str] = ..., options: _Optional[_Union[RegistryOptions, _Mapping]] = ...) -> None: ...

class Progress(_message.Message):
    __slots__ = ("id", "status", "current", "total", "detail", "target")
    ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CURRENT_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    id: str
    status: str
    current: int
    total: int
    detail: str
    target: _common_pb2.Descriptor
    def __init__(self, id: _Optional[str] = ..., status: _Optional[str] = ..., current: _Optional[int] = ..., total: _Optional[int] = ..., detail: _Optional[str] = ..., target: _Optional[_Union[_common_pb2.Descriptor, _Mapping]] = ...) -> None: ...

class LoginRequest(_message.Message):
    __slots__ = ("server", "options")
    SERVER_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    server: str
    options: RegistryOptions
    def __init__(self, server: _Optional[str] = ..., options: _Optional[_Union[RegistryOptions, _Mapping]] = ...) -> None: ...

class LoginResponse(_message.Message):
    __slots__ = ("status", "identity_token")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_TOKEN_FIELD_NUMBER: _ClassVar[int]
    status: str
    identity_token: str
    def __init__(self, status: _Optional[str] = ..., identity_token: _Optional[str] = ...) -> None: ...

class ExportRequest(_message.Message):
    __slots__ = ("names", "platform")
    NAMES_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    names: _containers.RepeatedScalarFieldContainer[str]
    platform: str
    def __init__(self, names: _Optional[_Iterable[str]] = ..., platform: _Optional[str] = ...) -> None: ...

class ExportChunk(_message.Message):
    __slots__ = ("data",)
    DATA_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    def __init__(self, data: _Optional[bytes] = ...) -> None: ...

class ImportChunk(_message.Message):
    __slots__ = ("data", "platform", "unpack", "dangling_prefix")
    DATA_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    UNPACK_FIELD_NUMBER: _ClassVar[int]
    DANGLING_PREFIX_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    platform: str
    unpack: bool
    dangling_prefix: str
    def __init__(self, data: _Optional[bytes] = ..., platform: _Optional[str] = ..., unpack: _Optional[bool] = ..., dangling_prefix: _Optional[str] = ...) -> None: ...

class ImportedImage(_message.Message):
    __slots__ = ("name", "target", "config_digest")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    CONFIG_DIGEST_FIELD_NUMBER: _ClassVar[int]
    name: str
    target: _common_pb2.Descriptor
    config_digest: str
    def __init__(self, name: _Optional[str] = ..., target: _Optional[_Union[_common_pb2.Descriptor, _Mapping]] = ..., config_digest: _Optional[str] = ...) -> None: ...

class ImportResponse(_message.Message):
    __slots__ = ("images",)
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    images: _containers.RepeatedCompositeFieldContainer[ImportedImage]
    def __init__(self, images: _Optional[_Iterable[_Union[ImportedImage, _Mapping]]] = ...) -> None: ...
