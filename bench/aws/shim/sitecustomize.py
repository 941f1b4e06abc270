# Origin: copied unchanged from the project's benchmark recipe shared/bench/prowler-vs-moto
# (written for evident, Apache-2.0 like this repository).
# Benchmark-only shim, loaded via PYTHONPATH=$BENCH_DIR/shim.
# botocore's S3 Control endpoint rules prepend "<AccountId>." to a custom
# endpoint host (http://123456789012.127.0.0.1:5077/...), which does not
# resolve.  Map any "*.127.0.0.1" host name back to 127.0.0.1 so that those
# calls reach the moto server.  Nothing else is changed.
import socket

_orig_getaddrinfo = socket.getaddrinfo


def _getaddrinfo(host, *args, **kwargs):
    if isinstance(host, str) and host.endswith(".127.0.0.1"):
        host = "127.0.0.1"
    return _orig_getaddrinfo(host, *args, **kwargs)


socket.getaddrinfo = _getaddrinfo
