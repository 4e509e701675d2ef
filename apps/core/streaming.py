"""Responses streamed from the database a chunk at a time, under ASGI too."""

from asgiref.sync import sync_to_async
from django.http import StreamingHttpResponse

_END = object()


class ChunkedResponse(StreamingHttpResponse):
    """A StreamingHttpResponse over a synchronous iterator (one that reads the database as it goes), which
    Django's ASGI handler also consumes a chunk at a time: for a synchronous iterator it would first read the
    whole of it into a list, so a large download would sit in memory whole. Each chunk is read in the request's
    own thread (thread-sensitive), where its database connection lives; empty chunks are not sent."""

    async def __aiter__(self):
        chunks = iter(self.streaming_content)
        while (chunk := await sync_to_async(next, thread_sensitive=True)(chunks, _END)) is not _END:
            if chunk:
                yield chunk

    def __iter__(self):
        return (chunk for chunk in self.streaming_content if chunk)
