from dockyard.api import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ApplyLayerRequest(_message.Message):
    __slots__ = ("layer", "diff_id", "parent")
    LAYER_FIELD_NUMBER: _ClassVar[int]
    DIFF_ID_FIELD_NUMBER: _ClassVar[int]
    PARENT_FIELD_NUMBER: _ClassVar[int]
    layer: _common_pb2.Descriptor
    diff_id: str
    parent: str
    def __init__(self, layer: _Optional[_Union[_common_pb2.Descriptor, _Mapping]] = ..., diff_id: _Optional[str] = ..., parent: _Optional[str] = ...) -> None: ...

class ApplyLayerResponse(_message.Message):
    __slots__ = ("snapshot",)
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    snapshot: str
    def __init__(self, snapshot: _Optional[str] = ...) -> None: ...

class CreateLayerRequest(_message.Message):
    __slots__ = ("snapshot_key", "compression", "exclude", "behind")
    SNAPSHOT_KEY_FIELD_NUMBER: _ClassVar[int]
    COMPRESSION_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_FIELD_NUMBER: _ClassVar[int]
    BEHIND_FIELD_NUMBER: _ClassVar[int]
    snapshot_key: str
    compression: str
    exclude: _containers.RepeatedScalarFieldContainer[str]
    behind: bool
    def __init__(self, snapshot_key: _Optional[str] = ..., compression: _Optional[str] = ..., exclude: _Optional[_Iterable[str]] = ..., behind: _Optional[bool] = ...) -> None: ...

class ImportLayerRequest(_message.Message):
    __slots__ = ("data", "unpack", "parent", "compression", "behind")
    DATA_FIELD_NUMBER: _ClassVar[int]
    UNPACK_FIELD_NUMBER: _ClassVar[int]
    PARENT_FIELD_NUMBER: _ClassVar[int]
    COMPRESSION_FIELD_NUMBER: _ClassVar[int]
    BEHIND_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    unpack: bool
    parent: str
    compression: str
    behind: bool
    def __init__(self, data: _Optional[bytes] = ..., unpack: _Optional[bool] = ..., parent: _Optional[str] = ..., compression: _Optional[str] = ..., behind: _Optional[bool] = ...) -> None: ...

class ImportLayerResponse(_message.Message):
    __slots__ = ("layer", "diff_id", "snapshot")
    LAYER_FIELD_NUMBER: _ClassVar[int]
    DIFF_ID_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    layer: _common_pb2.Descriptor
    diff_id: str
    snapshot: str
    def __init__(self, layer: _Optional[_Union[_common_pb2.Descriptor, _Mapping]] = ..., diff_id: _Optional[str] = ..., snapshot: _Optional[str] = ...) -> None: ...
