"""locust-operator sandbox: cluster DNS and the host name of a pod for its processes (loaded
through PYTHONPATH)."""
import json
import os
import socket

_HOSTS = os.environ.get("LOCUST_SANDBOX_HOSTS")
_NAMESPACE = os.environ.get("LOCUST_SANDBOX_NAMESPACE", "default")


def lookup(host):
    """The address of a cluster name (as a pod's resolver with search domains), or None."""
    if not _HOSTS or not host:
        return None
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    try:
        with open(_HOSTS) as f:
            names = json.load(f)
    except (OSError, ValueError):
        return None
    name = host.rstrip(".").lower()
    for candidate in (name, name + "." + _NAMESPACE + ".svc.cluster.local", name + ".svc.cluster.local", name + ".cluster.local"):
        if candidate in names:
            return names[candidate]
    return None


if _HOSTS and os.environ.get("HOSTNAME"):
    # A pod's host name is its name (Locust names a worker <host name>_<hex>).
    socket.gethostname = lambda: os.environ["HOSTNAME"]

if _HOSTS:
    _getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        return _getaddrinfo(lookup(host) or host, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo
    try:
        import zmq

        _connect = zmq.Socket.connect

        def connect(self, addr):
            if isinstance(addr, str) and addr.startswith("tcp://"):
                host, sep, port = addr[len("tcp://"):].rpartition(":")
                address = lookup(host)
                if address:
                    addr = "tcp://" + address + sep + port
            return _connect(self, addr)

        zmq.Socket.connect = connect
    except ImportError:
        pass
