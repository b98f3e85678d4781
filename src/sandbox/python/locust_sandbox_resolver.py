"""gevent's resolver with the sandbox's cluster names (GEVENT_RESOLVER)."""
from gevent.resolver.thread import Resolver as _Thread

import sitecustomize


class Resolver(_Thread):
    def getaddrinfo(self, host, *args, **kwargs):
        return super().getaddrinfo(sitecustomize.lookup(host) or host, *args, **kwargs)

    def gethostbyname(self, hostname, *args, **kwargs):
        return super().gethostbyname(sitecustomize.lookup(hostname) or hostname, *args, **kwargs)

    def gethostbyname_ex(self, hostname, *args, **kwargs):
        return super().gethostbyname_ex(sitecustomize.lookup(hostname) or hostname, *args, **kwargs)
