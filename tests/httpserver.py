"""A real HTTP server on 127.0.0.1 for download tests, with scripted misbehaviour."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    cut_first: int = 0  # close the connection after this many bytes, on the first N requests
    cuts_left: int = 0
    ranges: bool = True  # honour Range requests
    content_type: str = "application/octet-stream"
    requests: list[dict] = field(default_factory=list)


class Server:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        routes = self.routes

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_GET(self):
                route = routes.get(self.path)
                if route is None:
                    self.send_error(404, "Not Found")
                    return
                route.requests.append({"range": self.headers.get("Range")})
                if route.status != 200:
                    self.send_error(route.status)
                    return
                body, start = route.body, 0
                rng = self.headers.get("Range")
                if rng and route.ranges:
                    start = int(rng.split("=")[1].split("-")[0])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                part = body[start:]
                self.send_header("Content-Type", route.content_type)
                self.send_header("Content-Length", str(len(part)))
                self.send_header("Accept-Ranges", "bytes" if route.ranges else "none")
                self.end_headers()
                if route.cuts_left > 0:
                    route.cuts_left -= 1
                    self.wfile.write(part[: route.cut_first])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(part)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "Server":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
