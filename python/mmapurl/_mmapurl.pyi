# Type stubs of the C extension under the mmapurl package (python/src/_mmapurl.cpp).
from typing import Any, Callable, Final, TypedDict


class Stats(TypedDict):
    faults: int
    bytes_fetched: int
    requests: int
    retries: int
    prefetch_hits: int
    evictions: int
    resident_bytes: int
    in_flight_bytes: int
    failed_pages: int
    max_requests_in_flight: int
    connections: int
    staging_buffers_mapped: int
    cache_filled_pages: int
    cached_bytes: int
    fault_latency_us_log2: list[int]
    fault_latency_p50_us: float
    fault_latency_p90_us: float
    fault_latency_p99_us: float

class Mapping:
    def __new__(cls, url: str) -> Mapping: ...
    def __len__(self) -> int: ...
    def __getitem__(self, key: int | slice) -> Any: ...
    def __buffer__(self, flags: int) -> memoryview: ...
    def __enter__(self) -> Mapping: ...
    def __exit__(self, *exc: object) -> bool: ...
    def close(self) -> None: ...
    def read(self, offset: int = 0, size: int = -1) -> bytes: ...
    def readinto(self, offset: int, buffer: Any) -> int: ...
    def advise(self, offset: int, length: int, advice: int) -> None: ...
    def stats(self) -> Stats: ...
    @property
    def closed(self) -> bool: ...
    @property
    def url(self) -> str: ...
    @property
    def address(self) -> int: ...

def process_stats() -> Stats: ...
def errstr(code: int) -> str: ...
def _set_error_factory(factory: Callable[[int, int, str, str], BaseException]) -> None: ...

NORMAL: Final[int]
SEQUENTIAL: Final[int]
RANDOM: Final[int]
WILLNEED: Final[int]
DONTNEED: Final[int]
MMAP_S3_OK: Final[int]
MMAP_S3_ERRNO: Final[int]
MMAP_S3_IOERROR: Final[int]
MMAP_S3_CONTENT_LENGTH_NOT_RETURNED: Final[int]
MMAP_S3_NOT_FOUND: Final[int]
MMAP_S3_PERMISSION_ERROR: Final[int]
MMAP_S3_NO_BODY_RETURNED: Final[int]
MMAP_S3_INVALID_S3URL: Final[int]
MMAP_S3_UNKNOWN: Final[int]
