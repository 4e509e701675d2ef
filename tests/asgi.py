"""Requests straight to an ASGI application (FedChain's is what Daphne serves), without a server or a socket."""

import asyncio


async def asgi_get(application, path, *, host, on_send=None):
    """(status, {header: value}, [body chunks as sent]) of a GET of `path` over HTTPS (as behind a TLS proxy
    or in production). on_send(message), if given, is called as each message is sent."""
    path, _, query = path.partition("?")
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "https",
        "path": path, "raw_path": path.encode(), "query_string": query.encode(), "root_path": "",
        "headers": [(b"host", host.encode())], "client": ("127.0.0.1", 50000), "server": (host, 443),
    }
    sent = []
    received = asyncio.Queue()
    received.put_nowait({"type": "http.request", "body": b"", "more_body": False})

    async def send(message):
        if on_send is not None:
            on_send(message)
        sent.append(message)

    await application(scope, received.get, send)
    start = next(message for message in sent if message["type"] == "http.response.start")
    headers = {name.decode().lower(): value.decode() for name, value in start["headers"]}
    bodies = [message.get("body", b"") for message in sent if message["type"] == "http.response.body"]
    return start["status"], headers, bodies
