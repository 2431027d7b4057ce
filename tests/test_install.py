"""The install builds http-parser's C extension on CPython 3.11+ (DESIGN's known trap).

pymesos falls back to the slow pure-Python parser when the C one is missing, so an install
that silently lost the extension would still "work"; this test makes that loss visible.
"""

from http_parser.parser import HttpParser


def test_c_http_parser_reads_a_chunked_recordio_stream() -> None:
    body = b'20\n{"type":"HEARTBEAT","x":"abcd"}'
    chunk = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nMesos-Stream-Id: s-1\r\n\r\n"
    parser = HttpParser()
    data = head + chunk
    assert parser.execute(data, len(data)) == len(data)
    assert parser.get_status_code() == 200
    assert parser.get_headers()["Mesos-Stream-Id"] == "s-1"
    assert parser.recv_body() == body
    assert parser.is_message_complete()
